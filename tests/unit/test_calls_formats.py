"""Answer formats: rendering targets, parsing completions, spans."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcall.calls import (
    FORMATS,
    answer_span,
    parse_completion,
    render_completion,
    think_span,
)

CALLS = [{"name": "f", "arguments": {"a": 1}}, {"name": "mod.g", "arguments": {"b": "x", "c": [1.5, None]}}]


def test_render_examples_from_the_brief():
    one = [{"name": "f", "arguments": {"a": 1}}]
    assert render_completion("r", one, "think_answer") == ("<think>r</think>", "<answer>[f(a=1)]</answer>")
    assert render_completion("r", one, "funreason") == ("<think>r</think>", "\n\n[f(a=1)]")
    assert render_completion(None, one, "python") == ("", "[f(a=1)]")
    assert render_completion("r", [], "think_answer")[1] == "<answer>[]</answer>"
    assert render_completion(None, [], "python") == ("", "[]")


def test_hermes_and_openai_rendering():
    hermes = render_completion(None, CALLS[:1], "hermes")[1]
    assert hermes == '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>'
    openai = json.loads(render_completion(None, CALLS[:1], "openai")[1])
    assert openai == [{"type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_then_parse_round_trips(fmt):
    reasoning, call_text = render_completion("step by step", CALLS, fmt)
    parsed = parse_completion(reasoning + call_text, fmt)
    assert parsed.calls == CALLS and parsed.format_ok and parsed.error is None
    assert parsed.reasoning == "step by step"
    start, end = think_span(reasoning + call_text)
    assert (reasoning + call_text)[start:end] == "step by step"


def test_think_answer_structure_errors():
    assert parse_completion("<answer>[f(a=1)]</answer>", "think_answer").error == "missing_think"
    assert parse_completion("<think>r</think>[f(a=1)]", "think_answer").error == "missing_answer"
    extra = parse_completion("<think>r</think>hi<answer>[f(a=1)]</answer>", "think_answer")
    assert extra.error == "extra_text" and not extra.format_ok and extra.calls == [{"name": "f", "arguments": {"a": 1}}]
    twice = parse_completion("<think>r</think><think>s</think><answer>[]</answer>", "think_answer")
    assert twice.error == "repeated_tags" and not twice.format_ok
    prose = parse_completion("<think>r</think><answer>I cannot help.</answer>", "think_answer")
    assert prose.format_ok and prose.calls is None and prose.error == "syntax"


def test_funreason_needs_the_think_block_first():
    assert parse_completion("[f(a=1)]", "funreason").error == "missing_think"
    parsed = parse_completion("<think>r</think>\n\n[f(a=1)]", "funreason")
    assert parsed.format_ok and parsed.calls == [{"name": "f", "arguments": {"a": 1}}]


def test_python_answers_decode_like_bfcl():
    assert parse_completion("f(a=1)", "python").calls == [{"name": "f", "arguments": {"a": 1}}]
    assert parse_completion("```python\n[f(a=1)]\n```", "python").calls is None


def test_json_formats_accept_text_replies_as_no_call():
    assert parse_completion("I cannot do that.", "hermes").calls == []
    assert parse_completion("I cannot do that.", "openai").calls == []
    assert parse_completion(
        '{"tool_calls": [{"function": {"name": "f", "arguments": "{}"}, "type": "function"}]}', "openai"
    ).calls == [{"name": "f", "arguments": {}}]
    assert parse_completion("<tool_call>{bad json}</tool_call>", "hermes").error == "json"
    assert parse_completion("<tool_call>{}", "hermes").error == "unclosed_tool_call"


def test_spans():
    text = "<think>abc</think><answer>[f(a=1)]</answer>"
    assert text[slice(*think_span(text))] == "abc"
    assert text[slice(*answer_span(text, "think_answer"))] == "[f(a=1)]"
    funreason = "<think>abc</think>\n\n[f(a=1)]  "
    assert funreason[slice(*answer_span(funreason, "funreason"))] == "[f(a=1)]"
    assert think_span("no think here") is None and answer_span("<think>x</think>", "funreason") is None


def test_unknown_format_is_an_error():
    with pytest.raises(ValueError, match="unknown answer format"):
        parse_completion("x", "xml")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.sampled_from(FORMATS))
def test_any_text_parses_without_raising(text, fmt):
    started = time.perf_counter()
    for candidate in (text, f"<think>{text}</think><answer>{text}</answer>", f"<tool_call>{text}</tool_call>"):
        parsed = parse_completion(candidate, fmt)
        assert parsed.calls is None or isinstance(parsed.calls, list)
        think_span(candidate)
        answer_span(candidate, fmt)
    assert time.perf_counter() - started < 1.0


JSON_TREES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=30,
)


@settings(max_examples=100, deadline=None)
@given(JSON_TREES)
def test_arbitrary_json_in_json_formats_never_raises(tree):
    text = json.dumps(tree)
    for candidate, fmt in ((text, "openai"), (f"<tool_call>{text}</tool_call>", "hermes")):
        parsed = parse_completion(candidate, fmt)
        assert parsed.calls is None or all(isinstance(c["arguments"], dict) for c in parsed.calls)


def test_deep_json_is_refused():
    parsed = parse_completion("[" * 5000 + "]" * 5000, "openai")
    assert parsed.calls is None and parsed.error in ("depth", "json")
