"""Safe parse and render of BFCL's Python-call syntax."""

from __future__ import annotations

import builtins
import contextlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcall.calls import (
    Limits,
    ParseFailure,
    from_bfcl,
    parse_python_calls,
    render_python_calls,
    to_bfcl,
)
from funcall.calls.python_syntax import parse_prompting_output

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**9, 10**9) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,8}(\.[a-z_][a-z0-9_]{0,8}){0,2}", fullmatch=True).filter(
    lambda n: all(not __import__("keyword").iskeyword(p) for p in n.split("."))
)
CALLS = st.lists(
    st.fixed_dictionaries(
        {"name": NAMES, "arguments": st.dictionaries(NAMES.filter(lambda n: "." not in n), JSON_VALUES, max_size=4)}
    ),
    max_size=3,
)


@contextlib.contextmanager
def eval_forbidden():
    """builtins.eval/exec raise while the block runs (hypothesis itself uses exec, so only around our calls)."""

    def refuse(*args, **kwargs):
        raise AssertionError("eval/exec must never be called")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(builtins, "eval", refuse)
        patch.setattr(builtins, "exec", refuse)
        yield


def test_parse_and_render_examples():
    assert parse_python_calls("[f(a=1), g.h(b='x')]") == [{"name": "f", "arguments": {"a": 1}}, {"name": "g.h", "arguments": {"b": "x"}}]
    assert parse_python_calls("f(a=[1, 2.5], b={'k': None})") == [{"name": "f", "arguments": {"a": [1, 2.5], "b": {"k": None}}}]
    assert render_python_calls([{"name": "f", "arguments": {"a": 1, "b": "x", "c": [True, None]}}]) == "[f(a=1, b='x', c=[True, None])]"
    assert render_python_calls([]) == "[]"


@settings(max_examples=150, deadline=None)
@given(CALLS)
def test_render_then_parse_round_trips(calls):
    assert parse_python_calls(render_python_calls(calls)) == calls


def test_to_bfcl_and_back_keep_repeated_names():
    calls = [{"name": "f", "arguments": {"a": 1}}, {"name": "f", "arguments": {"a": 2}}]
    assert to_bfcl(calls) == [{"f": {"a": 1}}, {"f": {"a": 2}}]
    assert from_bfcl(to_bfcl(calls)) == calls


def test_small_arithmetic_is_evaluated_and_large_is_refused():
    assert parse_python_calls("f(a=2*3, b=-1, c=1e3, d=10**6, e='ab'*2)")[0]["arguments"] == {"a": 6, "b": -1, "c": 1000.0, "d": 10**6, "e": "abab"}
    for text in ["f(a=9**9**9)", "f(a=1<<10**6)", "f(a='x'*10**9)", "f(a=[0]*10**9)", "f(a=(10**1000)*(10**1000)*(10**1000)*(10**1000)*(10**1000))"]:
        started = time.perf_counter()
        result = parse_python_calls(text)
        assert isinstance(result, ParseFailure) and result.code == "numeric", text
        assert time.perf_counter() - started < 0.5


def test_typed_failures():
    assert parse_python_calls("x" * 70_000).code == "too_long"
    assert parse_python_calls("[f(a=1)").code == "syntax"
    assert parse_python_calls("[f(a=1), 2]").code == "not_a_call"
    assert parse_python_calls("f(a=" + "[" * 150 + "]" * 150 + ")", Limits(max_depth=100)).code in ("depth", "syntax")
    assert parse_python_calls("f(a=lambda: 1)").code == "unsupported"
    assert parse_python_calls("f(a=x.y)").code == "unsupported"


def test_nothing_is_executed(tmp_path):
    marker = tmp_path / "pwned"
    for text in [
        f"[f(a=__import__('os').system('touch {marker}'))]",
        f"[f(a=__import__('os').system('touch {marker}') + 1)]",
        f"[f(a=(lambda: open('{marker}', 'w'))())]",
        f"f(a=[open('{marker}', 'w')] * 2)",
    ]:
        with eval_forbidden():
            parse_python_calls(text)
            parse_prompting_output(text)
    assert not marker.exists()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_quickly_without_raising(text):
    started = time.perf_counter()
    with eval_forbidden():
        for candidate in (text, f"[f(a={text})]", f"f({text})"):
            assert isinstance(parse_python_calls(candidate), (list, ParseFailure))
            assert isinstance(parse_prompting_output(candidate), (list, ParseFailure))
    assert time.perf_counter() - started < 1.0


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[\[\]\(\)\{\}0-9a-z=,+\-*/%<>.'\" ]{0,200}", fullmatch=True))
def test_bracket_and_operator_soup_never_raises(text):
    started = time.perf_counter()
    with eval_forbidden():
        assert isinstance(parse_python_calls(text), (list, ParseFailure))
    assert time.perf_counter() - started < 1.0
