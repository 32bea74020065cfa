"""One call string of a model's step, read for execution: ``name(positional..., key=value...)``.

BFCL's own executor prefixes every ``name(`` in the string with an instance and hands the text to
Python's ``eval``: whatever the text computes runs, nested calls, names of builtins and
attributes included. Here the text is parsed with ``ast`` (bounded in size and depth,
`funcall.calls.limits`) and only this shape is accepted: a plain function name called with
literal arguments (constants, lists, tuples, sets, dicts and arithmetic on them, evaluated as
``eval`` would, without ``eval``). Anything else, a dotted name, a nested call, a variable, a
dunder, ``*args``, is refused with the reason, and the caller turns that into an error result.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from funcall.calls.limits import DEFAULT_LIMITS, Limits, ParseFailure
from funcall.calls.python_syntax import literal_value, parse_expression


@dataclass(frozen=True)
class EnvCall:
    name: str
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def parse_env_call(text: Any, limits: Limits = DEFAULT_LIMITS) -> EnvCall | ParseFailure:
    """``"sort('a.txt')"`` -> ``EnvCall("sort", ("a.txt",), {})``, or a ParseFailure saying why not."""
    if not isinstance(text, str):
        return ParseFailure("syntax", f"a call must be a string, got {type(text).__name__}")
    body = parse_expression(text.strip(), limits)
    if isinstance(body, ParseFailure):
        return body
    if not isinstance(body, ast.Call):
        return ParseFailure("not_a_call", f"not a function call: {type(body).__name__}")
    if not isinstance(body.func, ast.Name):
        return ParseFailure("not_a_call", "only a plain function name can be called (no attributes, no expressions)")
    name = body.func.id
    if name.startswith("_"):
        return ParseFailure("not_a_call", f"{name!r} is private")
    args = []
    for node in body.args:
        if isinstance(node, ast.Starred):
            return ParseFailure("unsupported", "*arguments are not accepted")
        value = literal_value(node, limits)
        if isinstance(value, ParseFailure):
            return value
        args.append(value)
    kwargs: dict[str, Any] = {}
    for keyword in body.keywords:
        if keyword.arg is None:
            return ParseFailure("unsupported", "**arguments are not accepted")
        value = literal_value(keyword.value, limits)
        if isinstance(value, ParseFailure):
            return value
        kwargs[keyword.arg] = value
    return EnvCall(name, tuple(args), kwargs)
