"""The held-out evaluations during training with a prompt limit: over-long prompts are not run,
count as wrong, and are counted in ``eval/not_run``; rank 0 shows an ``eval`` progress bar.

`HeldOutEval` runs on the real tiny model through the real `HFEngine` (recording the prompts it
is given) and, to show that an unrun prompt counts as wrong even where its answer would have been
right, on `ScriptedEngine`, a test double of our generation Protocol that answers every prompt
with the right calls. `MultiTurnHeldOutEval` plays BFCL's multi-turn entries on the tiny model.
"""
from __future__ import annotations

import pytest

from conftest import BFCL_DATA
from funcall.calls import render_python_calls
from funcall.data.bfcl_source import load_bfcl_examples
from funcall.data.prompts import PromptStyle, render_prompt
from funcall.dist import DistInfo
from funcall.eval.heldout import HeldOutEval
from funcall.rollout.engine import Rollouts

ONE_RANK = DistInfo(rank=0, world_size=1, local_rank=0)
STYLE = PromptStyle(answer_format="think_answer", tool_style="json")  # the data presets' format
needs_data = pytest.mark.skipif(not BFCL_DATA.is_dir(), reason=f"no BFCL data at {BFCL_DATA}")


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from funcall.models.load import load_tokenizer

    return load_tokenizer(str(tiny_model_dir))


@pytest.fixture(scope="module")
def examples():
    return load_bfcl_examples(BFCL_DATA, ["simple_python", "multiple"], 3)


class ScriptedEngine:
    """Answers each prompt (token ids) with its scripted text; records the prompt lengths."""

    def __init__(self, tokenizer, answers: dict[tuple[int, ...], str]):
        self.tokenizer, self.answers, self.sizes = tokenizer, answers, []

    def generate(self, prompts, *, max_new_tokens, greedy=False, **_):
        self.sizes += [len(p) for p in prompts]
        return Rollouts([self.tokenizer(self.answers[tuple(p)], add_special_tokens=False)["input_ids"]
                         + [self.tokenizer.eos_token_id] for p in prompts])


def lengths_and_limit(tokenizer, examples) -> tuple[dict[str, int], int]:
    lengths = {e.id: len(STYLE.prompt_ids(tokenizer, e)) for e in examples}
    return lengths, sorted(lengths.values())[2]  # the 3 shortest (and any tie) fit


@needs_data
def test_prompts_over_the_limit_are_not_generated_and_count_as_wrong(tokenizer, examples, capsys):
    answers = {tuple(STYLE.prompt_ids(tokenizer, e)): f"<think>ok</think><answer>{render_python_calls(e.calls)}</answer>"
               for e in examples}
    unlimited_metrics, unlimited = HeldOutEval(examples, tokenizer, STYLE, ONE_RANK)(ScriptedEngine(tokenizer, answers))
    right = {s["id"]: s["reward"] for s in unlimited}
    assert unlimited_metrics["eval/not_run"] == 0 and sum(right.values()) >= 4  # most right answers score right
    lengths, limit = lengths_and_limit(tokenizer, examples)
    over = {i for i, n in lengths.items() if n > limit}
    engine = ScriptedEngine(tokenizer, answers)
    metrics, samples = HeldOutEval(examples, tokenizer, STYLE, ONE_RANK, prompt_limit=limit)(engine)
    assert 0 < len(over) < len(examples) and max(engine.sizes) <= limit  # nothing over the limit was generated
    assert metrics["eval/not_run"] == len(over) and metrics["eval/n"] == len(examples) == 6
    # counted wrong, in the denominator: what fits and is right, over all six
    assert metrics["eval/ast_accuracy"] == pytest.approx(sum(r for i, r in right.items() if i not in over) / 6)
    for c in ("simple_python", "multiple"):
        mine = [i for i in lengths if i.startswith(c + "_")]
        assert metrics[f"eval/ast_accuracy/{c}"] == pytest.approx(sum(right[i] for i in mine if i not in over) / 3)
    assert {s["id"] for s in samples if s["not_run"]} == over
    assert all(s["reward"] == 0.0 and s["completion"] == "" for s in samples if s["not_run"])
    assert metrics["eval/format_ok"] == 1.0  # over the answers that were generated, all in the format
    assert "eval:" in capsys.readouterr().err  # the rank-0 progress bar


@needs_data
def test_the_tiny_model_through_the_real_engine(tokenizer, examples, tiny_model_dir, caplog):
    from transformers import AutoModelForCausalLM

    from funcall.rollout.hf import HFEngine

    class Recording(HFEngine):  # the real engine, noting the prompt lengths it is given
        def generate(self, prompts, **kwargs):
            self.sizes += [len(p) for p in prompts]
            return super().generate(prompts, **kwargs)

    engine = Recording(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tokenizer, batch_size=8)
    engine.sizes = []
    lengths, limit = lengths_and_limit(tokenizer, examples)
    evaluation = HeldOutEval(examples, tokenizer, STYLE, ONE_RANK, max_new_tokens=4, prompt_limit=limit)
    with caplog.at_level("WARNING", logger="funcall"):
        metrics, samples = evaluation(engine)
        evaluation(engine)  # warned once, not at every evaluation
    over = sum(n > limit for n in lengths.values())
    assert sorted(engine.sizes) == sorted(2 * [n for n in lengths.values() if n <= limit])
    assert metrics["eval/not_run"] == over and metrics["eval/n"] == 6 and len(samples) == 6
    assert 0.0 <= metrics["eval/ast_accuracy"] <= (6 - over) / 6
    assert caplog.text.count(f"{over} of 6 prompts are longer than the prompt limit ({limit} tokens") == 1


def test_a_multi_turn_task_whose_first_prompt_is_over_the_limit_is_not_run(tokenizer, tiny_model_dir, capsys):
    from transformers import AutoModelForCausalLM

    from funcall.envs.bfcl_data import installed_bfcl_data, load_multi_turn
    from funcall.eval.multi_turn_heldout import MultiTurnHeldOutEval
    from funcall.rollout.hf import HFEngine

    data = installed_bfcl_data()
    if data is None:
        pytest.skip("no installed bfcl_eval package")
    style = PromptStyle(answer_format="python", tool_style="compact")
    tasks = [(e["id"], "multi_turn_base", e, truth) for e, truth in load_multi_turn(data, "multi_turn_base", 4)]
    first = {t[0]: len(tokenizer(render_prompt(tokenizer, t[2]["function"], t[2]["question"][0], style),
                                 add_special_tokens=False)["input_ids"]) for t in tasks}
    limit = sorted(first.values())[1]
    over = {i for i, n in first.items() if n > limit}
    engine = HFEngine(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tokenizer, batch_size=8)
    metrics, samples = MultiTurnHeldOutEval(tasks, tokenizer, style, ONE_RANK, max_new_tokens=4, max_steps_per_turn=1,
                                            prompt_limit=limit)(engine)
    assert len(over) == 2 and {s["id"] for s in samples if s["not_run"]} == over
    assert all(s["reward"] == 0.0 and s["completion"] == "" for s in samples if s["not_run"])
    assert metrics["eval/not_run"] == 2 and metrics["eval/n"] == 4
    assert metrics["eval/episode_pass"] == pytest.approx(sum(s["reward"] for s in samples) / 4)
    assert "eval:" in capsys.readouterr().err  # the rank-0 progress bar
