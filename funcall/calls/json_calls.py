"""JSON tool-call formats: Hermes `<tool_call>{...}</tool_call>` blocks and OpenAI `tool_calls` lists.

Both carry the same canonical calls as the Python-call syntax, as JSON. Parsing is `json.loads`
behind the same size and depth bounds, and returns calls or a `ParseFailure`, never raises.
Arguments may be a JSON object or (as OpenAI sends them) a string holding one.
"""

from __future__ import annotations

import json
import re
from typing import Any

from funcall.calls.limits import DEFAULT_LIMITS, Limits, ParseFailure

TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)


def _json_depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def load_json(text: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """json.loads with bounds; a ParseFailure instead of an exception."""
    if len(text) > limits.max_chars:
        return ParseFailure("too_long", f"{len(text)} characters > {limits.max_chars}")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        return ParseFailure("json", str(error)[:200])
    if _json_depth(value) > limits.max_depth:
        return ParseFailure("depth", "JSON nested too deeply")
    return value


def _call_from_object(item: Any, limits: Limits) -> dict | ParseFailure:
    if isinstance(item, dict) and item.get("type") == "function" and isinstance(item.get("function"), dict):
        item = item["function"]  # OpenAI wraps the call
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return ParseFailure("not_a_call", "a tool call needs a string 'name'")
    arguments = item.get("arguments", item.get("parameters", {}))
    if isinstance(arguments, str):
        arguments = load_json(arguments, limits) if arguments.strip() else {}
        if isinstance(arguments, ParseFailure):
            return arguments
    if not isinstance(arguments, dict):
        return ParseFailure("not_a_call", "tool call arguments must be an object")
    return {"name": item["name"], "arguments": arguments}


def parse_hermes_calls(text: str, limits: Limits = DEFAULT_LIMITS) -> list[dict] | ParseFailure:
    """Every `<tool_call>{"name": .., "arguments": {..}}</tool_call>` block; no block -> []."""
    calls = []
    for block in TOOL_CALL.findall(text):
        value = load_json(block.strip(), limits)
        if isinstance(value, ParseFailure):
            return value
        call = _call_from_object(value, limits)
        if isinstance(call, ParseFailure):
            return call
        calls.append(call)
    return calls


def parse_openai_calls(text: str, limits: Limits = DEFAULT_LIMITS) -> list[dict] | ParseFailure:
    """A JSON list of tool calls, or an object with a `tool_calls` list."""
    value = load_json(text.strip(), limits)
    if isinstance(value, ParseFailure):
        return value
    if isinstance(value, dict):
        value = value.get("tool_calls") or []
    if not isinstance(value, list):
        return ParseFailure("not_a_call", "expected a list of tool calls")
    calls = []
    for item in value:
        call = _call_from_object(item, limits)
        if isinstance(call, ParseFailure):
            return call
        calls.append(call)
    return calls


def render_hermes_calls(calls: list[dict]) -> str:
    blocks = [f"<tool_call>\n{json.dumps({'name': c['name'], 'arguments': c['arguments']}, ensure_ascii=False)}\n</tool_call>" for c in calls]
    return "\n".join(blocks)


def render_openai_calls(calls: list[dict]) -> str:
    tool_calls = [
        {"type": "function", "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], ensure_ascii=False)}}
        for c in calls
    ]
    return json.dumps(tool_calls, ensure_ascii=False)
