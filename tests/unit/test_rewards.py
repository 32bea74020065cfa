"""Rewards: TRL signature, hand-computed values for every branch."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcall.rewards import (
    AstMatchReward,
    FormatReward,
    MixReward,
    PartialReward,
    RewardFunction,
    completion_text,
)
from funcall.rewards.partial import correctness_score

TOOLS = [
    {"name": "get_weather", "description": "", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "unit": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}},
    {"name": "get_time", "description": "", "parameters": {"type": "dict", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}},
]
ANSWER = [{"get_weather": {"city": ["Paris"], "unit": ["celsius", ""], "days": [3]}}]


def columns(n, answer=ANSWER, category="multiple", tools=TOOLS):
    return {"tools": [tools] * n, "possible_answer": [answer] * n, "category": [category] * n, "unused_column": [0] * n}


def score(reward, completions, **overrides):
    return reward(prompts=["p"] * len(completions), completions=completions, **columns(len(completions), **overrides))


GOOD = "<think>weather in Paris</think><answer>[get_weather(city='paris', days=3)]</answer>"


def test_rewards_satisfy_the_protocol_and_have_names():
    for reward, name in [(AstMatchReward(), "ast_match"), (FormatReward(), "format"), (PartialReward(), "partial"), (MixReward([FormatReward()]), "mix")]:
        assert isinstance(reward, RewardFunction) and reward.__name__ == name


def test_ast_match_is_binary_and_needs_the_format():
    reward = AstMatchReward()
    completions = [
        GOOD,
        "<think>x</think><answer>[get_weather(city='Paris', days=4)]</answer>",  # wrong value
        "[get_weather(city='Paris', days=3)]",  # no think/answer
        "<think>x</think> <answer>[get_time(zone='CET')]</answer>",  # wrong function
        "<think>x</think><answer>[get_weather(city='Paris', days=3]</answer>",  # unparseable
        "<think>x</think><answer>[get_weather(city='Paris', days=3)</answer>",  # BFCL appends the missing "]"
    ]
    assert score(reward, completions) == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert AstMatchReward(floor=-1.0)(prompts=["p"], completions=completions[1:2], **columns(1)) == [-1.0]


def test_ast_match_other_formats_and_conversations():
    python = AstMatchReward(answer_format="python", require_think=False)
    assert score(python, ["[get_weather(city='Paris', days=3)]"]) == [1.0]
    assert score(AstMatchReward(answer_format="python"), ["[get_weather(city='Paris', days=3)]"]) == [0.0]  # think required
    conversation = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": GOOD}]
    assert score(AstMatchReward(), [conversation]) == [1.0]
    hermes = '<think>t</think><tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}</tool_call>'
    assert score(AstMatchReward(answer_format="hermes"), [hermes]) == [1.0]


def test_ast_match_irrelevance_rewards_not_calling():
    reward = AstMatchReward()
    completions = ["<think>no tool fits</think><answer>[]</answer>", "<think>no</think><answer>I can't help.</answer>", GOOD]
    assert score(reward, completions, answer=None, category="irrelevance") == [1.0, 1.0, 0.0]
    assert score(reward, completions, answer=[], category=None) == [1.0, 1.0, 0.0]  # category inferred


def test_format_reward():
    completions = [GOOD, "<think>x</think><answer>[]</answer>", "<think>x</think><answer>not calls</answer>", "[f(a=1)]", ""]
    assert score(FormatReward(), completions) == [1.0, 1.0, 0.0, 0.0, 0.0]


def test_partial_reward_hand_computed():
    # S_max = 1 + (1 + 3 params) = 5.
    # exact: names 1 + keys J({city,days},{city,days}) 1 + matches 3 (unit omitted, omittable) -> S = 5 -> R_correct 3
    # wrong days: 1 + 1 + 2 = 4 -> 6*4/5 - 3 = 1.8 (so is 'paris' for 'Paris': values must match exactly)
    # unparseable -> -3; wrong function: names J = 0, no same-name call -> S = 0 -> -3
    completions = [
        "<think>x</think><answer>[get_weather(city='Paris', days=3)]</answer>",
        "<think>x</think><answer>[get_weather(city='Paris', days=4)]</answer>",
        "<think>x</think><answer>[get_weather(</answer>",
        "<think>x</think><answer>[get_time(zone='CET')]</answer>",
    ]
    assert score(PartialReward(), completions) == pytest.approx([4.0, 2.8, -3.0, -2.0])
    assert score(PartialReward(scale_to_unit=True), completions) == pytest.approx([1.0, 5.8 / 7, 0.0, 1 / 7])
    assert score(PartialReward(), [GOOD]) == pytest.approx([2.8])


def test_partial_reward_extra_key_and_duplicate_call():
    # extra key: keys J({city,days,unit=kelvin? no: zone},..) -> pred keys {city, days, zone} vs {city, days}: 2/3
    predicted = [{"name": "get_weather", "arguments": {"city": "Paris", "days": 3, "zone": "x"}}]
    assert correctness_score(predicted, ANSWER) == pytest.approx((1 + 2 / 3 + 3, 5))
    # duplicated call: names multiset J = 1/2; best same-name call is exact: 1 + 3
    twice = [{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}] * 2
    assert correctness_score(twice, ANSWER) == pytest.approx((0.5 + 4, 5))
    assert correctness_score([], None) == (1.0, 1.0) and correctness_score(twice, []) == (0.0, 1.0)


def test_mix_weights_skips_none_and_logs_components():
    def sometimes(prompts, completions, **kwargs):
        return [None, 0.5, None]

    sometimes.__name__ = "sometimes"

    def never(prompts, completions, **kwargs):
        return [None, None, None]

    mix = MixReward([FormatReward(), sometimes], [0.5, 1.5])
    completions = [GOOD, GOOD, "bad"]
    # sample 0: only format (1.0) present -> 0.5 * 1.0 rescaled by 2.0 / 0.5 = 2.0
    # sample 1: 0.5 * 1.0 + 1.5 * 0.5 = 1.25; sample 2: 0.5 * 0.0 * 4 = 0.0
    assert score(mix, completions) == pytest.approx([2.0, 1.25, 0.0])
    assert mix.last_components == {"format": [1.0, 1.0, 0.0], "sometimes": [None, 0.5, None]}
    assert score(MixReward({"n": never}), completions) == [None, None, None]
    named = MixReward({"strict": AstMatchReward(), "shape": FormatReward()}, {"strict": 1.0, "shape": 0.1})
    assert score(named, [GOOD]) == pytest.approx([1.1])
    with pytest.raises(ValueError):
        MixReward([FormatReward()], [1.0, 2.0])


def test_completion_text_of_conversations():
    assert completion_text("plain") == "plain"
    assert completion_text([{"role": "assistant", "content": "a"}, {"role": "tool", "content": "t"}]) == "a"
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]}]) == "xy"
    assert completion_text(None) == ""


@settings(max_examples=120, deadline=None)
@given(st.text(max_size=300), st.sampled_from(["simple_python", "parallel", "irrelevance", "simple_java", "simple_javascript", None]))
def test_rewards_never_raise_on_any_completion(text, category):
    started = time.perf_counter()
    completions = [text, f"<think>{text}</think><answer>{text}</answer>", [{"role": "assistant", "content": text}]]
    for reward in (AstMatchReward(), FormatReward(), PartialReward(), MixReward([AstMatchReward(), PartialReward()])):
        values = score(reward, completions, category=category)
        assert len(values) == 3 and all(v is None or isinstance(v, float) for v in values)
    assert time.perf_counter() - started < 1.0


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
        max_leaves=15,
    )
)
def test_rewards_survive_malformed_columns(junk):
    for reward in (AstMatchReward(), PartialReward()):
        values = reward(prompts=["p"], completions=[GOOD], tools=[junk], possible_answer=[junk], category=["simple_python"])
        assert len(values) == 1 and isinstance(values[0], float)
