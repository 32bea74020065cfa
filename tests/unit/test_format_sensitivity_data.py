"""``data=bfcl_format_sensitivity`` and ``reward=format_sensitivity``: entries held out whole, the eval's
prompts, targets that the eval's decoder reads back in every configuration, a reward that wants
each example's own format, and the held-out evaluation grading by that rule.

The data is the installed bfcl-eval's (all 200 listed entries); prompts are compared token for
token with `BFCLFormatSensitivityEval.encode` on the tiny model's tokenizer; the held-out
evaluation runs on `ScriptedEngine`, a test double of the generation Protocol that answers each
prompt with a scripted text.
"""
from __future__ import annotations

import re

import pytest

from funcall.bfcl.checker import check
from funcall.bfcl.data import Entry
from funcall.data.bfcl_format_decode import decode_answer
from funcall.data.bfcl_formats import CONFIGS, parse_config, render_answer
from funcall.data.format_sensitivity_source import BFCLFormatSensitivitySource, FormatSensitivityPrompts
from funcall.data.prompts import PromptStyle
from funcall.data.spans import CALL
from funcall.dist import DistInfo
from funcall.envs.bfcl_data import installed_bfcl_data
from funcall.eval.bfcl_format_sensitivity import BFCLFormatSensitivityEval
from funcall.eval.heldout import HeldOutEval
from funcall.rewards.format_sensitivity import FormatSensitivityReward
from funcall.rollout.engine import Rollouts
from funcall.utils.errors import ConfigError

pytest.importorskip("bfcl_eval")
DATA = installed_bfcl_data()
STYLE = FormatSensitivityPrompts()
ONE_RANK = DistInfo(rank=0, world_size=1, local_rank=0)


def entry_of(example_id: str) -> str:
    return example_id.rsplit("@", 1)[0]


@pytest.fixture(scope="module")
def everything():
    """All 200 entries x 26 configurations, none held out."""
    return BFCLFormatSensitivitySource(DATA, eval_size=0).train()


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from funcall.models.load import load_tokenizer

    return load_tokenizer(str(tiny_model_dir))


def columns(examples) -> dict:
    return dict(meta=[e.meta for e in examples], tools=[e.tools for e in examples],
                possible_answer=[e.ground_truth() for e in examples], category=[e.category for e in examples])


def test_entries_are_held_out_whole_under_every_configuration_and_by_seed():
    source = BFCLFormatSensitivitySource(DATA, eval_size=40, seed=3)
    train, held = source.train(), source.held_out()
    held_entries, train_entries = {entry_of(e.id) for e in held}, {entry_of(e.id) for e in train}
    assert len(held_entries) == 40 and len(train_entries) == 160 and not held_entries & train_entries
    assert len(held) == 40 * 26 and len(train) == 160 * 26  # every configuration of every entry, once
    for entry in held_entries:
        assert sorted(e.meta["format_sensitivity"] for e in held if entry_of(e.id) == entry) == sorted(CONFIGS)
    again = {entry_of(e.id) for e in BFCLFormatSensitivitySource(DATA, eval_size=40, seed=3).held_out()}
    other = {entry_of(e.id) for e in BFCLFormatSensitivitySource(DATA, eval_size=40, seed=4).held_out()}
    assert again == held_entries and other != held_entries


def test_configurations_and_categories_are_chosen_and_bad_ones_named():
    picked = [CONFIGS[3], CONFIGS[25]]
    source = BFCLFormatSensitivitySource(DATA, categories=["parallel", "live_simple"], configs=picked, eval_size=5)
    examples = source.train() + source.held_out()
    assert {e.category for e in examples} == {"parallel", "live_simple"} and len(examples) == (15 + 24) * 2
    assert {e.meta["format_sensitivity"] for e in examples} == set(picked)
    assert {e.id.rsplit("@", 1)[1] for e in examples} == {"3", "25"}
    with pytest.raises(ConfigError, match="data.source.configs"):
        BFCLFormatSensitivitySource(DATA, configs=["ret_fmt=yaml"])
    with pytest.raises(ConfigError, match="data.source.categories"):
        BFCLFormatSensitivitySource(DATA, categories=["irrelevance"])


def test_prompts_are_the_evals_for_the_same_entry_and_configuration(everything, tokenizer):
    """Every configuration, one entry of each category, both system roles: the same token ids."""
    firsts = {}
    for example in everything:
        firsts.setdefault((example.category, example.meta["format_sensitivity"]), example)
    for system_role in ("system", "user"):
        style, task = FormatSensitivityPrompts(system_role=system_role), BFCLFormatSensitivityEval(system_role=system_role)
        for example in firsts.values():
            entry = Entry(entry_of(example.id), example.category, [example.messages], example.tools, example.possible_answer)
            assert style.prompt_ids(tokenizer, example) == task.encode(tokenizer, entry, example.meta["format_sensitivity"])
    assert len(firsts) == 8 * 26


def json_regex_cannot_read(text: str) -> bool:
    """bfcl-eval's JSON call regex stops at the first ``}`` + ``]``: a list of objects inside the
    arguments ends the match early, and no JSON spelling of such a call avoids it."""
    body = text[text.index("[") + 1:]
    return re.search(r"}\s*]", body[: body.rindex("]")]) is not None


def test_targets_decode_back_to_the_ground_truth_in_every_configuration(everything):
    """All 5200 targets are written in their configuration and pass the AST checker after the eval's
    decoder, except those bfcl-eval's own JSON decoder cannot read in any spelling (asserted)."""
    unreadable = set()
    for example in everything:
        config = example.meta["format_sensitivity"]
        ret, tag, *_ = parse_config(config)
        target = STYLE.target(example)
        assert target.startswith("<TOOLCALL>") == tag
        verdict = check(example.category, example.tools, example.ground_truth(), decode_answer(target, ret, tag))
        if not verdict.valid:
            assert ret == "json" and json_regex_cannot_read(target), (example.id, target, verdict.error)
            unreadable.add(example.id)
    assert len({e.meta["format_sensitivity"] for e in everything}) == 26
    assert len(unreadable) <= 6 * 3  # a few entries, in the 6 JSON configurations only


def test_the_reward_is_one_in_the_examples_format_and_zero_in_any_other(everything):
    """One entry per category: its ground truth rendered in each of the 8 answer formats (return
    format x tag) scores 1 under the configurations of that format, 0 under every other return
    format and under a tag it lacks, and always what the eval's grading says (bfcl-eval's JSON and
    XML decoders find a tagged answer in an untagged configuration too)."""
    reward = FormatSensitivityReward()
    formats = {parse_config(c)[:2]: c for c in CONFIGS}
    chosen = {}
    for example in everything:
        chosen.setdefault(example.category, []).append(example)
    for examples in chosen.values():
        examples = [e for e in examples if entry_of(e.id) == entry_of(examples[0].id)]  # one entry, 26 configs
        entry = Entry(entry_of(examples[0].id), examples[0].category, [examples[0].messages], examples[0].tools,
                      examples[0].possible_answer)
        for written_as, config in formats.items():
            answer = render_answer(examples[0].calls, config)
            scores = reward([None] * len(examples), [answer] * len(examples), **columns(examples))
            asked = [parse_config(e.meta["format_sensitivity"])[:2] for e in examples]
            readable = not (written_as[0] == "json" and json_regex_cannot_read(answer))
            own = [s for s, a in zip(scores, asked) if a == written_as]  # 3 doc formats (python untagged: 5)
            assert own == [float(readable)] * len(own) and len(own) >= 3
            assert all(s == 0.0 for s, a in zip(scores, asked) if a[0] != written_as[0] or (a[1] and not written_as[1]))
            graded = [float(BFCLFormatSensitivityEval.grade(entry, e.meta["format_sensitivity"], answer)["valid"])
                      for e in examples]
            assert scores == graded, (entry.id, config)


def test_the_reward_needs_a_configuration_and_the_format_mode_ignores_the_calls(everything):
    example = next(e for e in everything if e.meta["format_sensitivity"] == CONFIGS[13])  # verbose XML, no tag
    wrong = render_answer([{"name": "not_a_function", "arguments": {"x": 1}}], CONFIGS[13])
    cols = columns([example, example])
    assert FormatSensitivityReward()([None] * 2, [wrong, "[]"], **cols) == [0.0, 0.0]
    assert FormatSensitivityReward(check_calls=False)([None] * 2, [wrong, "no xml here"], **cols) == [1.0, 0.0]
    with pytest.raises(ConfigError, match="data=bfcl_format_sensitivity"):
        FormatSensitivityReward()([None], [wrong], **{**cols, "meta": [{}]})


def test_sft_sequences_are_the_prompt_then_the_target(everything, tokenizer):
    example = next(e for e in everything if e.meta["format_sensitivity"] == CONFIGS[19])  # concise XML, tag
    encoded = STYLE.encode_sft(tokenizer, example, 10**6)
    prompt = STYLE.prompt_ids(tokenizer, example)
    assert encoded.input_ids[:len(prompt)] == prompt and encoded.prompt_len == len(prompt)
    answer = tokenizer.decode(encoded.input_ids[len(prompt):], skip_special_tokens=True)
    assert answer.strip() == STYLE.target(example) and "<TOOLCALL><functions>" in answer
    assert set(encoded.spans[len(prompt):]) == {CALL}  # no reasoning: the whole target is the call
    assert PromptStyle().reward is None and PromptStyle().format_reward is None  # a plain style: ast_match and format


class ScriptedEngine:
    """Answers each prompt (token ids) with its scripted text."""

    def __init__(self, tokenizer, answers: dict[tuple[int, ...], str]):
        self.tokenizer, self.answers = tokenizer, answers

    def generate(self, prompts, *, max_new_tokens, greedy=False, **_):
        return Rollouts([self.tokenizer(self.answers[tuple(p)], add_special_tokens=False)["input_ids"]
                         + [self.tokenizer.eos_token_id] for p in prompts])


def test_the_held_out_evaluation_grades_each_answer_in_its_own_format(tokenizer):
    """Held-out answers in their own configuration score; the same calls in a python list (the
    format of the first configurations) score only where python is the format asked for."""
    style = FormatSensitivityPrompts(reward=FormatSensitivityReward(),
                                     format_reward=FormatSensitivityReward(check_calls=False, name="format"))
    held = BFCLFormatSensitivitySource(DATA, categories=["simple_python"], eval_size=1, seed=0).held_out()
    prompts = [tuple(style.prompt_ids(tokenizer, e)) for e in held]
    right = ScriptedEngine(tokenizer, {p: style.target(e) for p, e in zip(prompts, held)})
    python = ScriptedEngine(tokenizer, {p: render_answer(e.calls, CONFIGS[3]) for p, e in zip(prompts, held)})
    evaluation = HeldOutEval(held, tokenizer, style, ONE_RANK, max_new_tokens=64)
    metrics, samples = evaluation(right)
    assert metrics["eval/ast_accuracy"] == 1.0 and metrics["eval/format_ok"] == 1.0 and metrics["eval/unparseable"] == 0
    metrics, samples = evaluation(python)
    python_configs = sum(parse_config(e.meta["format_sensitivity"])[:2] == ("python", False) for e in held)
    assert metrics["eval/ast_accuracy"] == python_configs / 26 and 0 < python_configs < 26
    assert metrics["eval/unparseable"] > 0.5 and len(samples) == 26
