"""The reward-function Protocol (TRL's signature) and the helpers every reward shares.

A reward is a callable `(prompts, completions, **columns) -> list[float | None]` with a `__name__`,
exactly what TRL's GRPOTrainer calls and logs, so TRL's own reward functions plug into funcall and
these plug into TRL. Dataset columns arrive as keyword lists with one entry per completion;
unknown columns are ignored. A completion is a string, or a conversation (list of message dicts),
in which case the last assistant message's content is scored.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from funcall.bfcl.checker import SINGLE_TURN_CATEGORIES
from funcall.calls.types import bfcl_type
from funcall.data.schema import infer_category


@runtime_checkable
class RewardFunction(Protocol):
    __name__: str

    def __call__(self, prompts: list, completions: list, **columns: Any) -> list[float | None]: ...


def completion_text(completion: Any) -> str:
    """The text to score: a string as is; for a conversation, the last assistant message's content
    (text parts joined when the content is a list of parts); "" when there is none."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, list):
        for message in reversed(completion):
            if isinstance(message, dict) and message.get("role", "assistant") == "assistant":
                return _content_text(message.get("content"))
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


def column(columns: dict, name: str, index: int, default: Any = None) -> Any:
    values = columns.get(name)
    if values is None or index >= len(values):
        return default
    return values[index]


def category_of(category: Any, possible_answer: Any, tools: Any) -> str:
    """The column's category when it is a known one; otherwise `funcall.data.schema.infer_category`
    from the numbers of expected calls and offered tools."""
    if isinstance(category, str) and category in SINGLE_TURN_CATEGORIES:
        return category
    return infer_category(len(possible_answer) if isinstance(possible_answer, list) else 0,
                          len(tools) if isinstance(tools, list) else 1)


def bfcl_function_docs(tools: Any) -> list[dict]:
    """Tool docs as the BFCL checker reads them: OpenAI `{"type": "function", "function": {..}}`
    wrappers removed, JSON-schema type names (`object`, `number`) mapped to BFCL's (`dict`, `float`)."""
    docs = []
    for tool in tools or []:
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            tool = tool["function"]
        if not isinstance(tool, dict):
            continue
        parameters = dict(tool.get("parameters") or {})
        properties = {name: _bfcl_schema(schema) for name, schema in (parameters.get("properties") or {}).items()}
        docs.append({**tool, "parameters": {**parameters, "type": "dict", "properties": properties, "required": parameters.get("required", [])}})
    return docs


def _bfcl_schema(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    schema = dict(schema)
    if isinstance(schema.get("type"), str):
        schema["type"] = bfcl_type(schema["type"])
    if isinstance(schema.get("items"), dict):
        schema["items"] = _bfcl_schema(schema["items"])
    return schema
