"""Reading judge replies: verdicts (`<judge>True</judge>`), corrected calls (`<NewFC>...</NewFC>`),
scores (`<score>0.8</score>`) and a teacher's reasoning (its `<think>` span).

Replies are untrusted text from a model: nothing here raises on any input, and calls are read
with `ast`/`json` only (`funcall.calls`), never executed. A parser returns its value or an
`Unreadable` with a short reason; the caller asks again (`funcall.judges.ask`).

How this differs from a plain regex: reasoning models think before answering, and their
thoughts often quote the tags ("if wrong I would write <judge>False</judge>"), so the judge's own
`<think>...</think>` is removed first (and an unclosed `<think>` means the reply was cut off
inside its thinking: unreadable). Of several verdict tags the last one counts, as the final
answer follows the deliberation. Tag names are case-insensitive, a missing closing tag is
tolerated (a reply cut at `max_tokens` right after the verdict), and the verdict word may be
True/False, yes/no, pass/fail, correct/incorrect. A corrected call may be written in Python
syntax (`[f(a=1)]`, as asked) or as JSON (`[{"name": "f", "arguments": {"a": 1}}]`), and may sit
in a Markdown code fence.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from funcall.calls.limits import ParseFailure
from funcall.calls.python_syntax import parse_python_calls


@dataclass(frozen=True)
class Unreadable:
    reason: str

    def __bool__(self) -> bool:
        return False


@dataclass(frozen=True)
class Verdict:
    ok: bool
    new_calls: list[dict] | None = None  # the corrected calls, when <NewFC> held a readable list
    new_calls_error: str | None = None  # why a present <NewFC> could not be read


THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
VERDICT = re.compile(r"<judge>\s*[*_`'\"]*\s*(true|false|yes|no|pass|fail|passed|failed|correct|incorrect)\b",
                     re.IGNORECASE)
NEWFC = re.compile(r"<newfc>(.*?)(?:</newfc>|$)", re.DOTALL | re.IGNORECASE)
SCORE = re.compile(r"<score>\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?:</score>|$)", re.IGNORECASE)
FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```$", re.DOTALL)
TRUE_WORDS = {"true", "yes", "pass", "passed", "correct"}


def visible_text(text: object) -> str | Unreadable:
    """The reply without the judge's own thinking."""
    if not isinstance(text, str):
        return Unreadable("no text")
    text = THINK_BLOCK.sub("", text)
    if "<think>" in text.lower():
        return Unreadable("cut off inside <think>")
    if "</think>" in text.lower():  # the opening tag was in the prompt (Qwen3-style templates)
        text = text[text.lower().rindex("</think>") + len("</think>"):]
    return text


def parse_verdict(text: object) -> Verdict | Unreadable:
    visible = visible_text(text)
    if isinstance(visible, Unreadable):
        return visible
    found = VERDICT.findall(visible)
    if not found:
        return Unreadable("no <judge>True</judge> or <judge>False</judge>")
    ok = found[-1].lower() in TRUE_WORDS
    blocks = NEWFC.findall(visible)
    if ok or not blocks:
        return Verdict(ok)
    calls = parse_calls_text(blocks[-1])
    if isinstance(calls, Unreadable):
        return Verdict(False, None, calls.reason)
    return Verdict(False, calls)


def parse_calls_text(text: str) -> list[dict] | Unreadable:
    """A call list written by a judge: Python syntax or JSON, possibly fenced."""
    body = text.strip()
    fenced = FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    if body[:1] == "{" or (body[:1] == "[" and body[1:].lstrip()[:1] == "{"):
        return _json_calls(body)
    calls = parse_python_calls(body)
    if isinstance(calls, ParseFailure):
        return Unreadable(f"corrected call does not parse ({calls.code})")
    return calls


def _json_calls(body: str) -> list[dict] | Unreadable:
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, RecursionError):
        return Unreadable("corrected call is not valid JSON")
    items = value if isinstance(value, list) else [value]
    calls = []
    for item in items:
        if not (isinstance(item, dict) and isinstance(item.get("name"), str)):
            return Unreadable("corrected call: each call needs a string 'name'")
        args = item.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except (json.JSONDecodeError, RecursionError):
                return Unreadable("corrected call: 'arguments' is not JSON")
        if not isinstance(args, dict):
            return Unreadable("corrected call: 'arguments' must be an object")
        calls.append({"name": item["name"], "arguments": args})
    return calls


def parse_score(text: object, low: float = 0.0, high: float = 1.0) -> float | Unreadable:
    visible = visible_text(text)
    if isinstance(visible, Unreadable):
        return visible
    found = SCORE.findall(visible)
    if not found:
        return Unreadable("no <score>...</score>")
    value = float(found[-1])
    if not low <= value <= high:
        return Unreadable(f"score {value} outside [{low}, {high}]")
    return value


def parse_reasoning(text: object) -> str | Unreadable:
    """The teacher's reasoning: the content of its first `<think>` span (or everything before a
    lone `</think>`, when the template opened the tag in the prompt)."""
    if not isinstance(text, str):
        return Unreadable("no text")
    match = re.search(r"<think>(.*?)</think>", text, re.DOTALL | re.IGNORECASE)
    if match:
        reasoning = match.group(1)
    elif "</think>" in text.lower() and "<think>" not in text.lower():
        reasoning = text[: text.lower().index("</think>")]
    else:
        return Unreadable("no <think>...</think> span" if "<think>" not in text.lower() else "unclosed <think>")
    reasoning = reasoning.strip()
    if not reasoning:
        return Unreadable("empty <think> span")
    return reasoning
