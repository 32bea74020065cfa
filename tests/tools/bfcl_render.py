"""Render BFCL ground truths as model output: the decoded form and text in the category's language.

Used by the ground-truth tests and by build_bfcl_corpus.py. A ground truth becomes one call per
expected call, taking the FIRST acceptable value of each parameter and leaving out parameters whose
first acceptable value is "" (i.e. optional). Dict-typed values are option dicts themselves and are
collapsed the same way. Java/JavaScript values are written as source text the way a model would:
`42L` for a Java long, `3.0f` for a float, `new int[]{1, 2}`, `new ArrayList<>(Arrays.asList(..))`,
`new HashMap<String, String>() {{ put("k", v); }}`, JS `5n`, `[..]`, `{k: v}`; strings quoted,
except identifier-like strings for untyped (`any`) parameters, which are written bare.
"""

from __future__ import annotations

import json
import re
from typing import Any

from funcall.calls.python_syntax import render_python_calls

IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*")


def first_value(options: Any) -> Any:
    """First acceptable value; option dicts (dict-typed params) are collapsed recursively."""
    value = options[0]
    return collapse(value)


def collapse(value: Any) -> Any:
    if isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
        return {k: collapse(v[0]) for k, v in value.items() if v and v[0] != ""}
    if isinstance(value, list):
        return [collapse(v) for v in value]
    return value


def ground_truth_calls(ground_truth: list[dict]) -> list[dict]:
    """[{name: {param: [options]}}] -> canonical calls with the first acceptable values."""
    calls = []
    for item in ground_truth:
        (name, params), = item.items()
        arguments = {p: first_value(options) for p, options in params.items() if options and options[0] != ""}
        calls.append({"name": name, "arguments": arguments})
    return calls


def doc_for(functions: list[dict], name: str) -> dict:
    for doc in functions:
        if doc["name"] == name:
            return doc
    return functions[0]


def render_text(calls: list[dict], functions: list[dict], language: str) -> str:
    if language == "python":
        return render_python_calls(calls)
    parts = []
    for call in calls:
        properties = doc_for(functions, call["name"])["parameters"]["properties"]
        rendered = []
        for param, value in call["arguments"].items():
            schema = properties.get(param, {"type": "any"})
            source = java_source(value, schema) if language == "java" else js_source(value, schema)
            rendered.append(f"{param}={source}")
        parts.append(f"{call['name']}({', '.join(rendered)})")
    return "[" + ", ".join(parts) + "]"


def _string_source(value: str, declared: str) -> str:
    if declared not in ("String", "char") and IDENTIFIER.fullmatch(value):
        return value
    return json.dumps(value)


JAVA_ARRAY_ELEMENT = {"integer": "int", "long": "long", "String": "String", "char": "char", "boolean": "boolean", "double": "double", "float": "float"}


def java_source(value: Any, schema: dict) -> str:
    declared = schema.get("type", "any")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return {"long": f"{value}L", "float": f"{value}.0f", "double": f"{value}.0"}.get(declared, str(value))
    if isinstance(value, float):
        return f"{value!r}f" if declared == "float" else repr(value)
    if isinstance(value, str):
        return _string_source(value, declared)
    if isinstance(value, list):
        item = schema.get("items", {"type": "any"})
        elements = ", ".join(java_source(v, item) for v in value)
        if declared == "ArrayList":
            return f"new ArrayList<>(Arrays.asList({elements}))"
        return f"new {JAVA_ARRAY_ELEMENT.get(item.get('type'), 'Object')}[]{{{elements}}}"
    if isinstance(value, dict):
        puts = " ".join(f"put({json.dumps(str(k))}, {java_source(v, {'type': 'any'})});" for k, v in value.items())
        return f"new HashMap<String, Object>() {{{{ {puts} }}}}"
    return json.dumps(value)


def js_source(value: Any, schema: dict) -> str:
    declared = schema.get("type", "any")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}n" if declared == "Bigint" else str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _string_source(value, declared)
    if isinstance(value, list):
        item = schema.get("items", {"type": "any"})
        return "[" + ", ".join(js_source(v, item) for v in value) + "]"
    if isinstance(value, dict):
        pairs = ", ".join(f"{k if IDENTIFIER.fullmatch(str(k)) else json.dumps(str(k))}: {js_source(v, {'type': 'any'})}" for k, v in value.items())
        return "{" + pairs + "}"
    return json.dumps(value)
