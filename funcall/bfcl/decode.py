"""BFCL's prompting-mode decoder: raw model text -> `[{name: {arg: value}}]`, or a ParseFailure.

The text is trimmed of backticks, newlines and spaces at both ends and wrapped in `[`/`]` when it
does not already start/end with them, exactly as BFCL does; that is why a bare call `f(a=1)` and a
plain ``` fence decode while ```` ```python ````, prose, or a quoted list `'[f()]'` do not.
Python categories are then read with funcall.calls.python_syntax (BFCL's value rules, but never
`eval`); Java and JavaScript use the small bounded parsers in java_call.py / js_call.py instead of
tree-sitter. The result may be something other than a call list (Java decodes "no call found" as
`{}`, JavaScript as `None`): the checker reports those as `decoder_wrong_output_format`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from funcall.bfcl.checker import language_of
from funcall.calls.limits import DEFAULT_LIMITS, Limits, ParseFailure
from funcall.calls.python_syntax import bracketed, prompting_output_pairs

if TYPE_CHECKING:
    from funcall.calls.formats import ParsedCompletion

DecodeFailure = ParseFailure


def decode_python(text: str, limits: Limits = DEFAULT_LIMITS) -> list[dict] | ParseFailure:
    """Decode text the way BFCL decodes prompting models in Python categories (and irrelevance)."""
    pairs = prompting_output_pairs(text, limits)
    if isinstance(pairs, ParseFailure):
        return pairs
    return [{name: arguments} for name, arguments in pairs]


def decode_text(text: str, category: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Decoded output for `category` (irrelevance categories use the Python decoder, as BFCL does)."""
    language = language_of(category)
    if language == "python":
        return decode_python(text, limits)
    if not isinstance(text, str):
        return ParseFailure("syntax", "model output text is not a string")
    if len(text) > limits.max_chars:
        return ParseFailure("too_long", f"{len(text)} characters > {limits.max_chars}")
    source = bracketed(text)[1:-1]  # BFCL cuts the outer brackets off again for Java/JS
    if language == "java":
        from funcall.bfcl.java_call import decode_java

        return decode_java(source, limits)
    from funcall.bfcl.js_call import decode_js

    return decode_js(source, limits)


def decode_completion(parsed: ParsedCompletion, answer_format: str, category: str) -> Any:
    """What BFCL's checker receives for a completion parsed in ``answer_format``: the answer span
    decoded as BFCL decodes prompting output (Python-syntax formats), or the JSON calls converted
    (hermes, openai). The training reward and the evaluation both score this. (The formats are
    imported here, not at the top: the checker's CLI does not need them at start-up.)"""
    from funcall.calls.canonical import to_bfcl
    from funcall.calls.formats import PYTHON_SYNTAX_FORMATS

    if answer_format in PYTHON_SYNTAX_FORMATS:
        return decode_text(parsed.answer, category) if parsed.answer is not None else ParseFailure("missing_answer")
    return to_bfcl(parsed.calls) if parsed.calls is not None else ParseFailure(parsed.error or "syntax")
