"""Answer formats: render a target completion (reasoning + calls) and parse a model's completion.

Formats (`FORMATS`):
  think_answer  `<think>r</think><answer>[f(a=1)]</answer>`      (entropy-guided GRPO paper)
  funreason     `<think>r</think>\\n\\n[f(a=1)]`                   (FunReason SFT target)
  python        `[f(a=1)]`                                        (BFCL prompting output)
  hermes        `<tool_call>\\n{"name": "f", "arguments": {"a": 1}}\\n</tool_call>` per call
  openai        `[{"type": "function", "function": {"name": "f", "arguments": "{\\"a\\": 1}"}}]`
python, hermes and openai may start with an optional `<think>...</think>` block.

Rendering returns two spans that concatenate to the target text, so the trainer can weight the
reasoning and call tokens separately (SRML). Parsing reports the structure (`format_ok`) apart from
the calls, so a reward can ask for either. The answer of the Python-syntax formats is decoded the
way BFCL decodes prompting output (funcall.bfcl.decode), so a reward computed on it matches the
evaluation; `answer` keeps the raw answer text for categories whose language is not Python.
A plain-text reply with no tool call parses as `calls == []` in hermes/openai (that is how those
formats say "no call"), while in the Python-syntax formats it is unparseable (`calls is None`),
which BFCL also counts as "no call" in the irrelevance categories.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from funcall.calls.json_calls import (
    parse_hermes_calls,
    parse_openai_calls,
    render_hermes_calls,
    render_openai_calls,
)
from funcall.calls.limits import DEFAULT_LIMITS, Limits
from funcall.calls.python_syntax import (
    ParseFailure,
    parse_prompting_output,
    render_python_calls,
)

FORMATS = ("think_answer", "funreason", "python", "hermes", "openai")
PYTHON_SYNTAX_FORMATS = ("think_answer", "funreason", "python")

THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
LEADING_THINK = re.compile(r"\s*<think>(.*?)</think>", re.DOTALL)


@dataclass(frozen=True)
class ParsedCompletion:
    reasoning: str | None  # content of the <think> block, if any
    calls: list[dict] | None  # canonical calls; None when the answer does not parse
    format_ok: bool  # the structure the format requires is present, nothing stray around it
    error: str | None  # first problem found: a structure code or a ParseFailure code
    answer: str | None = None  # the raw answer text (inside <answer>, after </think>, ...)


def render_completion(reasoning: str | None, calls: list[dict], fmt: str) -> tuple[str, str]:
    """(reasoning_span, call_span) whose concatenation is the target text."""
    _check_format(fmt)
    if fmt == "think_answer":
        return f"<think>{reasoning or ''}</think>", f"<answer>{render_python_calls(calls)}</answer>"
    if fmt == "funreason":
        return f"<think>{reasoning or ''}</think>", "\n\n" + render_python_calls(calls)
    prefix = "" if reasoning is None else f"<think>{reasoning}</think>\n\n"
    if fmt == "python":
        return prefix, render_python_calls(calls)
    if fmt == "hermes":
        return prefix, render_hermes_calls(calls)
    return prefix, render_openai_calls(calls)


def parse_completion(text: str, fmt: str, limits: Limits = DEFAULT_LIMITS) -> ParsedCompletion:
    """Never raises on any `text`; raises ValueError only for an unknown `fmt`."""
    _check_format(fmt)
    if not isinstance(text, str):
        return ParsedCompletion(None, None, False, "not_text")
    if len(text) > limits.max_chars:
        return ParsedCompletion(None, None, False, "too_long")
    if fmt == "think_answer":
        return _parse_think_answer(text, limits)
    leading = LEADING_THINK.match(text)
    reasoning = leading.group(1) if leading else None
    rest = text[leading.end() :] if leading else text
    structure_error = None
    if fmt == "funreason" and not leading:
        structure_error = "missing_think"
    elif "<think>" in rest or "</think>" in rest:
        structure_error = "extra_think"
    answer = rest.strip()
    if fmt == "hermes":
        tag_problem = _bad_tool_call_tags(answer)
        structure_error = structure_error or (tag_problem.code if tag_problem is not None else None)
        calls = tag_problem if tag_problem is not None else parse_hermes_calls(answer, limits)
    elif fmt == "openai":
        calls = parse_openai_calls(answer, limits) if answer[:1] in ("[", "{") else []
    else:
        calls = parse_prompting_output(answer, limits)
    return _parsed(reasoning, calls, structure_error, answer)


def think_span(text: str) -> tuple[int, int] | None:
    """Character offsets [start, end) of the content of the first `<think>...</think>`."""
    match = THINK.search(text) if isinstance(text, str) else None
    return (match.start(1), match.end(1)) if match else None


def answer_span(text: str, fmt: str) -> tuple[int, int] | None:
    """Character offsets [start, end) of the answer: inside `<answer>` for think_answer, else what
    follows the leading think block, without surrounding whitespace. None when there is none."""
    _check_format(fmt)
    if not isinstance(text, str):
        return None
    if fmt == "think_answer":
        match = ANSWER.search(text)
        return (match.start(1), match.end(1)) if match else None
    leading = LEADING_THINK.match(text)
    start = leading.end() if leading else 0
    if fmt == "funreason" and not leading:
        return None
    stripped = text[start:].strip()
    if not stripped:
        return None
    start = text.index(stripped, start)
    return start, start + len(stripped)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown answer format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _bad_tool_call_tags(answer: str) -> ParseFailure | None:
    opened, closed = answer.count("<tool_call>"), answer.count("</tool_call>")
    if opened != closed:
        return ParseFailure("unclosed_tool_call", "unbalanced <tool_call> tags")
    if opened and re.sub(r"<tool_call>.*?</tool_call>", "", answer, flags=re.DOTALL).strip():
        return ParseFailure("extra_text", "text outside <tool_call> blocks")
    return None


def _parsed(reasoning: str | None, calls: list[dict] | ParseFailure, structure_error: str | None, answer: str | None) -> ParsedCompletion:
    if isinstance(calls, ParseFailure):
        return ParsedCompletion(reasoning, None, structure_error is None, structure_error or calls.code, answer)
    return ParsedCompletion(reasoning, calls, structure_error is None, structure_error, answer)


def _parse_think_answer(text: str, limits: Limits) -> ParsedCompletion:
    think, answer = THINK.search(text), ANSWER.search(text)
    reasoning = think.group(1) if think else None
    answer_text = answer.group(1) if answer else None
    if think is None:
        structure_error = "missing_think"
    elif answer is None:
        structure_error = "missing_answer"
    elif any(text.count(tag) != 1 for tag in ("<think>", "</think>", "<answer>", "</answer>")):
        structure_error = "repeated_tags"
    elif not re.fullmatch(r"\s*<think>.*?</think>\s*<answer>.*?</answer>\s*", text, re.DOTALL):
        structure_error = "extra_text"
    else:
        structure_error = None
    if answer_text is None:
        return ParsedCompletion(reasoning, None, False, structure_error, None)
    return _parsed(reasoning, parse_prompting_output(answer_text, limits), structure_error, answer_text)
