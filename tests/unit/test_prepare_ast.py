"""Stage 2: calls against the tool schemas (JSON schema, BFCL names and xLAM's informal types)."""
from __future__ import annotations

import pytest

from funcall.data.xlam import tool_from_xlam
from funcall.prepare.ast_validate import validate_calls

XLAM_TOOL = tool_from_xlam({"name": "scores", "description": "", "parameters": {
    "ids": {"type": "List[int]", "description": ""},
    "limit": {"type": "int", "description": ""},
    "ties": {"type": "bool, optional", "description": ""},
    "label": {"type": "str, optional", "description": "", "default": "top"},
    "weights": {"type": "Optional[Dict[str, float]]", "description": ""},
    "ratio": {"type": "float", "description": "", "default": 0.5},
    "when": {"type": "datetime, optional", "description": ""},  # unknown to us: any value goes
    "point": {"type": "Optional[Tuple[float, float]]", "description": ""},
}}, "x")
JSON_TOOL = {"type": "function", "function": {"name": "book", "parameters": {"type": "object", "properties": {
    "room": {"type": "string", "enum": ["single", "double"]},
    "nights": {"type": "integer"},
    "price": {"type": "number"},
    "extras": {"type": "array", "items": {"type": "string"}},
    "guest": {"type": "object", "properties": {"age": {"type": "integer"}}},
    "note": {"type": ["string", "null"]},
}, "required": ["room", "nights"]}}}
TOOLS = [XLAM_TOOL, JSON_TOOL]


def call(name, **arguments):
    return {"name": name, "arguments": arguments}


@pytest.mark.parametrize("calls", [
    [call("scores", ids=[1, 2], limit=3, when="2024-01-01")],
    [call("scores", ids=[], limit=0, ties=True, label="x", weights={"a": 1, "b": 0.5}, ratio=2, point=[1.0, 2])],
    [call("scores", ids=[1], limit=1, when=12, weights=None, ties=None)],  # None for optional parameters
    [call("book", room="double", nights=2, price=99, extras=["breakfast"], guest={"age": 30}, note=None)],
    [call("book", room="single", nights=1), call("scores", ids=[3], limit=1, when=None)],
    [],  # no call
])
def test_sound_calls_pass(calls):
    assert validate_calls(calls, TOOLS) is None


@pytest.mark.parametrize("calls,reason,needle", [
    ([call("score", ids=[1], limit=1, when=1)], "unknown_function", "score: no such tool"),
    ([call("scores", ids=[1], when=1)], "missing_required", "'limit'"),
    ([call("book", room="single", nights=1, breakfast=True)], "unknown_argument", "'breakfast'"),
    ([call("scores", ids=[1, "2"], limit=1, when=1)], "wrong_type", "'ids'[1]"),
    ([call("scores", ids=[1], limit=True, when=1)], "wrong_type", "bool, expected int"),
    ([call("scores", ids=[1], limit=1.0, when=1)], "wrong_type", "float, expected int"),
    ([call("scores", ids="1,2", limit=1, when=1)], "wrong_type", "expected array"),
    ([call("scores", ids=[1], limit=1, when=1, ties="yes")], "wrong_type", "'ties'"),
    ([call("scores", ids=[1], limit=1, when=1, weights="heavy")], "wrong_type", "'weights'"),
    ([call("scores", ids=[1], limit=1, point="1,2")], "wrong_type", "'point'"),
    ([call("scores", ids=[1], limit=None, when=1)], "wrong_type", "None"),  # required: None is not a value
    ([call("book", room="suite", nights=1)], "not_in_enum", "'suite'"),
    ([call("book", room="single", nights=1, guest={"age": "old"})], "wrong_type", "['age']"),
    ([call("book", room="single", nights=1, extras=[1])], "wrong_type", "'extras'[0]"),
    ([call("book", room="single", nights=1), call("nope")], "unknown_function", "call 2 nope"),
    ([{"name": "book", "arguments": "room=single"}], "unparseable_answer", "call 1"),
])
def test_broken_calls_are_named(calls, reason, needle):
    problem = validate_calls(calls, TOOLS)
    assert problem is not None and problem.reason == reason
    assert needle in problem.detail, problem.detail


def test_declared_extra_arguments_and_schemaless_tools():
    open_tool = {"name": "log", "parameters": {"type": "object", "properties": {}, "additionalProperties": True}}
    assert validate_calls([call("log", anything=1)], [open_tool]) is None
    bare = {"name": "ping"}
    assert validate_calls([call("ping")], [bare]) is None
    assert validate_calls([call("ping", x=1)], [bare]).reason == "unknown_argument"
