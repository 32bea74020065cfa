"""Reading judge replies: verdicts, corrected calls, scores and teacher reasoning, never raising."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcall.judges.replies import Unreadable, Verdict, parse_calls_text, parse_reasoning, parse_score, parse_verdict


@pytest.mark.parametrize("text,ok", [
    ("<judge>True</judge>", True),
    ("Looks fine.\n<judge> false </judge>", False),
    ("<JUDGE>TRUE</JUDGE>", True),
    ("<judge>**True**</judge>", True),
    ("<judge>yes</judge>", True),
    ("<judge>Fail</judge>", False),
    ("verdict: <judge>True", True),  # cut at max_tokens after the verdict
    ("At first <judge>False</judge>, but on reflection <judge>True</judge>", True),  # the last one counts
    ("<think>if wrong I would say <judge>False</judge></think>All good. <judge>True</judge>", True),
    ("my reasoning...</think>\n<judge>False</judge>", False),  # template opened <think> in the prompt
])
def test_verdicts(text, ok):
    verdict = parse_verdict(text)
    assert isinstance(verdict, Verdict) and verdict.ok is ok


@pytest.mark.parametrize("text", [
    "", "True", "I think it is correct.", "<judge>maybe</judge>", "<judge></judge>",
    "<think>still thinking <judge>True</judge>",  # cut off inside its own thinking
    "<think>x</think>", None, 42,
])
def test_unreadable_verdicts(text):
    assert isinstance(parse_verdict(text), Unreadable)


def test_newfc_in_python_or_json_syntax_and_in_fences():
    python = parse_verdict("<judge>False</judge>\n<NewFC>[get_weather(city='Oslo', days=3)]</NewFC>")
    assert python == Verdict(False, [{"name": "get_weather", "arguments": {"city": "Oslo", "days": 3}}])
    fenced = parse_verdict("<judge>False</judge><newfc>\n```python\n[f(a=[1, 2])]\n```\n</newfc>")
    assert fenced.new_calls == [{"name": "f", "arguments": {"a": [1, 2]}}]
    as_json = parse_verdict('<judge>False</judge><NewFC>[{"name": "f", "arguments": "{\\"a\\": 1}"}]</NewFC>')
    assert as_json.new_calls == [{"name": "f", "arguments": {"a": 1}}]
    unclosed = parse_verdict("<judge>False</judge><NewFC>[f(a=1)]")
    assert unclosed.new_calls == [{"name": "f", "arguments": {"a": 1}}]


def test_unreadable_newfc_is_a_verdict_without_calls():
    verdict = parse_verdict("<judge>False</judge><NewFC>[f(a=</NewFC>")
    assert verdict.ok is False and verdict.new_calls is None and "does not parse" in verdict.new_calls_error
    no_block = parse_verdict("<judge>False</judge> the city is wrong")
    assert no_block == Verdict(False)
    passing = parse_verdict("<judge>True</judge><NewFC>[g()]</NewFC>")  # a correction with True is ignored
    assert passing == Verdict(True)


def test_newfc_is_never_executed(tmp_path):
    marker = tmp_path / "ran"
    verdict = parse_verdict(f"<judge>False</judge><NewFC>[f(a=__import__('os').system('touch {marker}'))]</NewFC>")
    assert verdict.ok is False and not marker.exists()
    assert verdict.new_calls is None or isinstance(verdict.new_calls[0]["arguments"]["a"], str)  # source text at most
    assert isinstance(parse_calls_text("[f(a=(lambda: 1)())]"), (Unreadable, list))


@pytest.mark.parametrize("text,score", [
    ("<score>0.8</score>", 0.8), ("<score>1</score>", 1.0), ("<score> .5 </score>", 0.5),
    ("first <score>0.2</score> then <score>0.9</score>", 0.9), ("<think><score>0</score></think><score>1.0</score>", 1.0),
])
def test_scores(text, score):
    assert parse_score(text) == score


@pytest.mark.parametrize("text", ["0.8", "<score>high</score>", "<score>7</score>", "<score>-0.1</score>", None])
def test_unreadable_scores(text):
    assert isinstance(parse_score(text), Unreadable)


def test_teacher_reasoning_from_its_think_span():
    assert parse_reasoning("<think>\nThe city is Oslo.\n</think>\n[f(city='Oslo')]") == "The city is Oslo."
    assert parse_reasoning("The city is Oslo.</think>[f()]") == "The city is Oslo."
    for bad in ("[f(city='Oslo')]", "<think>   </think>", "<think>never closed", None):
        assert isinstance(parse_reasoning(bad), Unreadable)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("<>/judgeNewFCscorthink TrueFals[]()='0.1{}\"a,") + [
    "<judge>", "</judge>", "<NewFC>", "</NewFC>", "<think>", "</think>", "<score>", "</score>", "True", "[f(a="]),
    max_size=40).map("".join))
def test_parsers_never_raise(text):
    for parse in (parse_verdict, parse_score, parse_reasoning):
        parse(text)
