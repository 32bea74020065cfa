"""``eval/unparseable`` and ``eval/no_call_frac`` in the held-out evaluations during training:
single-turn (`HeldOutEval`, over the answers generated: an unrun prompt is in neither share) and
multi-turn (`MultiTurnHeldOutEval`, over the conversations' steps). `ScriptedEngine` is a test
double of our generation Protocol that says the texts the test chose, so each share is known."""
from __future__ import annotations

import pytest

from conftest import BFCL_DATA
from funcall.calls import render_python_calls
from funcall.data.prompts import PromptStyle
from funcall.dist import DistInfo
from funcall.rollout.engine import Rollouts

ONE_RANK = DistInfo(rank=0, world_size=1, local_rank=0)
STYLE = PromptStyle(answer_format="think_answer", tool_style="compact")


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from funcall.models.load import load_tokenizer

    return load_tokenizer(str(tiny_model_dir))


class ScriptedEngine:
    """Answers with ``answer(prompt ids, n-th call)``: a text, + EOS."""

    def __init__(self, tokenizer, answer):
        self.tokenizer, self.answer, self.n = tokenizer, answer, 0

    def generate(self, prompts, *, max_new_tokens, greedy=False, **_):
        out = []
        for p in prompts:
            self.n += 1
            out.append(self.tokenizer(self.answer(tuple(p), self.n), add_special_tokens=False)["input_ids"]
                       + [self.tokenizer.eos_token_id])
        return Rollouts(out)


@pytest.mark.skipif(not BFCL_DATA.is_dir(), reason=f"no BFCL data at {BFCL_DATA}")
def test_held_out_shares_are_over_the_answers_generated(tokenizer):
    from funcall.data.bfcl_source import load_bfcl_examples
    from funcall.eval.heldout import HeldOutEval

    examples = load_bfcl_examples(BFCL_DATA, ["simple_python"], 4)
    prompts = sorted(((STYLE.prompt_ids(tokenizer, e), e) for e in examples), key=lambda pe: len(pe[0]))
    assert len(prompts[2][0]) < len(prompts[3][0])  # the longest alone is over the limit below
    texts = [f"<think>ok</think><answer>{render_python_calls(prompts[0][1].calls)}</answer>",  # calls
             "<think>none fits</think><answer>[]</answer>",  # no call
             "<think>ok</think> I would call the function",  # does not parse
             f"<think>ok</think><answer>{render_python_calls(prompts[3][1].calls)}</answer>"]  # never run
    answers = {tuple(p): t for (p, _), t in zip(prompts, texts)}
    metrics, _ = HeldOutEval(examples, tokenizer, STYLE, ONE_RANK, prompt_limit=len(prompts[2][0]))(
        ScriptedEngine(tokenizer, lambda p, n: answers[p]))
    assert metrics["eval/not_run"] == 1 and metrics["eval/n"] == 4
    assert metrics["eval/unparseable"] == pytest.approx(1 / 3) and metrics["eval/no_call_frac"] == pytest.approx(1 / 3)


def test_multi_turn_held_out_shares_are_over_the_steps(tokenizer):
    from funcall.data.multi_turn_synthetic import generate
    from funcall.eval.multi_turn_heldout import MultiTurnHeldOutEval

    tasks = [(f"t{i}", "multi_turn_base", *generate(0, "train", i)) for i in range(3)]
    # every answer ends its turn (no call, or none that parses), so the steps are the turns
    turns = sum(len(entry["question"]) for _, _, entry, _ in tasks)
    said = ["<think>x</think> the calls are", "<think>x</think><answer>[]</answer>"]
    metrics, _ = MultiTurnHeldOutEval(tasks, tokenizer, STYLE, ONE_RANK, max_new_tokens=32)(
        ScriptedEngine(tokenizer, lambda p, n: said[n % 2]))
    garbled = sum(n % 2 == 0 for n in range(1, turns + 1))
    assert metrics["eval/unparseable"] == pytest.approx(garbled / turns)
    assert metrics["eval/no_call_frac"] == pytest.approx((turns - garbled) / turns)
