"""Fast path of the Java/JavaScript decoders for the commonest model output: one plain call.

`Pkg.method(a="x", b=5, c=true, d=someVar)` (optionally with `;`) is decoded here with a single
regular expression instead of the token parser: only `name=value` arguments whose values are a
string without escapes, a decimal number, `true`/`false`/`null` or a (dotted) identifier, and no
reserved word anywhere. Anything else returns None and goes to the full parser in java_call.py /
js_call.py, which gives the same result on everything this accepts (tests/unit/test_bfcl_java_js.py
checks both on the whole conformance corpus). It exists because the checker has to be at least
as fast as the official one, whose tree-sitter parser is written in C.
"""

from __future__ import annotations

import re

from funcall.calls.limits import ParseFailure

_WORD = r"[A-Za-z_$][\w$]*"
_DOTTED = rf"{_WORD}(?:\.{_WORD})*"
_VALUES = {
    "java": rf'"[^"\\\n]*"|-?\d+[lL]?|-?\d+\.\d+[fFdD]?|{_DOTTED}',
    "javascript": rf'"[^"\\\n]*"|\'[^\'\\\n]*\'|-?\d+n?|-?\d+\.\d+|{_DOTTED}',
}
_KEYWORDS = {
    "java": {"new", "instanceof", "switch", "this", "super", "byte", "short", "int", "long", "float", "double", "boolean", "char", "void"},
    "javascript": {
        "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do", "else", "export",
        "extends", "finally", "for", "function", "if", "import", "in", "instanceof", "new", "return", "super", "switch",
        "this", "throw", "try", "typeof", "var", "void", "while", "with", "enum", "let", "await", "async", "yield",
    },
}
_LITERALS = {"true", "false", "null"}


def _patterns(language: str) -> tuple[re.Pattern, re.Pattern]:
    argument = rf"\s*({_WORD})\s*=\s*({_VALUES[language]})\s*"
    call = rf"\s*(?P<name>{_DOTTED})\((?P<arguments>(?:{argument},)*{argument}|\s*)\)(?P<semicolon>;?)\s*"
    return re.compile(call), re.compile(rf"{argument}(?:,|$)")


_PATTERNS = {language: _patterns(language) for language in _VALUES}
_NAMES = re.compile(_WORD)


def decode_simple_call(source: str, language: str) -> list[dict] | ParseFailure | None:
    """The decoded call, a ParseFailure, or None when the text is not a plain call."""
    call_pattern, argument_pattern = _PATTERNS[language]
    call = call_pattern.fullmatch(source)
    if call is None:
        return None
    keywords = _KEYWORDS[language]
    if any(word in keywords or (word in _LITERALS and position == 0) for position, word in _words(call.group("name"))):
        return None
    arguments: dict[str, str] = {}
    for key, value in argument_pattern.findall(call.group("arguments")):
        if key in keywords or key in _LITERALS or any(word in keywords for _, word in _words(value) if value[0] not in "\"'"):
            return None
        if key in arguments:
            return ParseFailure("syntax", "repeated argument name")
        arguments[key] = value[1:-1] if value[0] in "\"'" else value
    if language == "java" and not call.group("semicolon"):
        statement = source.strip()
        if len(statement) + 30 * statement.count("\n") <= 10:  # see java_call.SHORT_STATEMENT_CHARS
            return ParseFailure("syntax", "Java: first statement without ';' too short for tree-sitter to recover")
    return [{call.group("name"): arguments}]


def _words(text: str) -> list[tuple[int, str]]:
    return list(enumerate(_NAMES.findall(text)))
