"""Stage 2 of the data pipeline: are the reference calls well-formed against the tools offered?

Every call must name a given tool, carry every required argument and no undeclared one, and each
value must have the declared type (and be one of the declared `enum` values, if any). This is not
the BFCL checker (`funcall.bfcl`), which grades an answer against a ground truth; here there is no
ground truth, only the schema, so the rules are the schema's.

Types are read from JSON schema and from the names BFCL and xLAM use (xLAM's informal
"str, optional" / "List[int]" are already JSON schema after `funcall.data.xlam.tool_from_xlam`):
string/str; integer/int (a bool is not an integer); number/float/double (an int is a number);
boolean/bool; array/list/set (items checked when `items` is declared); tuple (a list or tuple);
dict/object (declared nested properties checked for type); any; null. A type list
(`["string", "null"]`) accepts any member. A type name we do not know (e.g. xLAM's "datetime",
which `informal_type` maps to "any") accepts anything: no evidence, no rejection. None is accepted
for an optional parameter (xLAM writes `Optional[...]`), never for a required one.

The first problem found is returned with a reason code (counted in report.json) and a detail line
naming the call, the argument and what was expected.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from funcall.calls.types import kind as type_kind

REASONS = ("unparseable_answer", "unknown_function", "missing_required", "unknown_argument", "wrong_type",
           "not_in_enum")



@dataclass(frozen=True)
class Problem:
    reason: str
    detail: str


def tool_docs(tools: list) -> dict[str, dict]:
    """name -> function doc, with OpenAI's `{"type": "function", "function": {...}}` unwrapped."""
    docs: dict[str, dict] = {}
    for tool in tools or []:
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            tool = tool["function"]
        if isinstance(tool, dict) and isinstance(tool.get("name"), str):
            docs.setdefault(tool["name"], tool)
    return docs


def validate_calls(calls: list[dict], tools: list) -> Problem | None:
    docs = tool_docs(tools)
    for n, call in enumerate(calls, start=1):
        problem = validate_call(call, docs, f"call {n} ")
        if problem is not None:
            return problem
    return None


def validate_call(call: dict, docs: dict[str, dict], label: str = "") -> Problem | None:
    name, arguments = call.get("name"), call.get("arguments")
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return Problem("unparseable_answer", f"{label}is not {{'name': str, 'arguments': object}}")
    doc = docs.get(name)
    if doc is None:
        return Problem("unknown_function", f"{label}{name}: no such tool (tools: {', '.join(sorted(docs)) or 'none'})")
    params = doc.get("parameters") if isinstance(doc.get("parameters"), dict) else {}
    properties = params.get("properties") if isinstance(params.get("properties"), dict) else {}
    required = [r for r in params.get("required") or [] if isinstance(r, str)]
    missing = [r for r in required if r not in arguments]
    if missing:
        return Problem("missing_required", f"{label}{name}: required argument {', '.join(map(repr, missing))} missing "
                                           f"(required: {', '.join(required)})")
    if params.get("additionalProperties") is not True:
        unknown = [a for a in arguments if a not in properties]
        if unknown:
            return Problem("unknown_argument", f"{label}{name}: argument {', '.join(map(repr, unknown))} is not declared "
                                               f"(declared: {', '.join(properties) or 'none'})")
    for arg, value in arguments.items():
        schema = properties.get(arg)
        if not isinstance(schema, dict):
            continue
        if value is None and arg not in required:
            continue  # an optional parameter given as null/None means "not given"
        problem = value_problem(value, schema, f"{label}{name}: argument {arg!r}")
        if problem is not None:
            return problem
    return None


def _kinds(schema: dict) -> list[str] | None:
    """The declared kinds, or None when any value goes (no type, or a type we do not know)."""
    declared = schema.get("type")
    names = declared if isinstance(declared, list) else [declared]
    kinds = []
    for name in names:
        kind = "any" if name is None or not str(name).strip() else type_kind(name)
        if kind is None or kind == "any":
            return None
        kinds.append(kind)
    return kinds


def _is(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("array", "tuple"):
        return isinstance(value, (list, tuple))
    if kind == "dict":
        return isinstance(value, dict)
    return value is None  # null


def value_problem(value: Any, schema: dict, label: str) -> Problem | None:
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and value not in enum:
        return Problem("not_in_enum", f"{label}: {value!r} is not one of {enum!r}")
    kinds = _kinds(schema)
    if kinds is None:
        return None
    if schema.get("nullable") is True and value is None:
        return None
    matching = [k for k in kinds if _is(k, value)]
    if not matching:
        expected = " or ".join(dict.fromkeys(str(t) for t in (schema["type"] if isinstance(schema["type"], list) else [schema["type"]])))
        return Problem("wrong_type", f"{label}: {value!r} is {type(value).__name__}, expected {expected}")
    kind = matching[0]
    if kind == "array" and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problem = value_problem(item, schema["items"], f"{label}[{i}]")
            if problem is not None:
                return problem
    if kind == "dict" and isinstance(schema.get("properties"), dict):
        for key, item in value.items():
            sub = schema["properties"].get(key)
            if isinstance(sub, dict) and item is not None:
                problem = value_problem(item, sub, f"{label}[{key!r}]")
                if problem is not None:
                    return problem
    return None
