"""A small tokenizer for the Java and JavaScript call syntax that BFCL decodes.

BFCL parses Java/JS model output with tree-sitter; funcall does not depend on it. The parsers in
java_call.py and js_call.py work on these tokens instead. The tokenizer is bounded (linear in the
input, no backtracking) and strict: anything it cannot read (an unterminated string, a stray
character such as a backtick in Java) raises `SourceError`, which the decoders report as the
decode failure tree-sitter's ERROR node would cause. Comments are skipped like whitespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class SourceError(Exception):
    """The text is not valid in the subset of Java/JS that the decoders read."""


@dataclass(frozen=True)
class Token:
    kind: str  # name, number, string, char, template, punct, error, end
    text: str
    start: int
    end: int
    newline_before: bool = False  # a line break between the previous token and this one


_SPACE = re.compile(r"(?:[ \t\r\n\f\v\u00a0\ufeff]+|//[^\n]*|/\*.*?\*/)+", re.DOTALL)
_NAME = re.compile(r"[^\W\d]\w*|[$][\w$]*|[^\W\d][\w$]*", re.UNICODE)
_NUMBER = {
    "java": re.compile(
        r"0[xX][0-9a-fA-F_]+[lL]?|0[bB][01_]+[lL]?|\d[\d_]*[lL]"
        r"|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[fFdD]?"
    ),
    "javascript": re.compile(
        r"0[xX][0-9a-fA-F_]+n?|0[bB][01_]+n?|0[oO][0-7_]+n?|\d[\d_]*n"
        r"|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?"
    ),
}
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"', re.DOTALL)
_JAVA_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)  # tree-sitter-java lets strings span lines
_SINGLE_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'", re.DOTALL)
_JAVA_CHAR = re.compile(r"'(?:[^'\\\n]|\\.)+'", re.DOTALL)
_TEMPLATE = re.compile(r"`(?:[^`\\]|\\.)*`", re.DOTALL)
_PUNCTUATION = {
    "java": sorted(
        [">>>=", "<<=", ">>=", ">>>", "...", "->", "::", "++", "--", "&&", "||", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<", "(", ")", "[", "]", "{", "}", ";", ",", ".", "@", "=", ">", "<", "!", "~", "?", ":", "+", "-", "*", "/", "&", "|", "^", "%"],
        key=len, reverse=True,
    ),
    "javascript": sorted(
        [">>>=", "...", "===", "!==", "**=", "<<=", ">>=", ">>>", "&&=", "||=", "??=", "=>", "**", "++", "--", "&&", "||", "??", "?.", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<", ">>", "(", ")", "[", "]", "{", "}", ";", ",", ".", "=", ">", "<", "!", "~", "?", ":", "+", "-", "*", "/", "&", "|", "^", "%", "@", "#"],
        key=len, reverse=True,
    ),
}


def tokenize(source: str, language: str, position: int = 0) -> list[Token]:
    """Tokens from `position` on. An unreadable spot ends the list with an `error` token (so a
    parser can still re-read the text after a JSX element) followed by `end`."""
    tokens: list[Token] = []
    newline = False
    punctuation = _PUNCTUATION[language]
    while True:
        space = _SPACE.match(source, position)
        if space:
            newline = newline or "\n" in space.group()
            position = space.end()
        if position >= len(source):
            tokens.append(Token("end", "", position, position, newline))
            return tokens
        try:
            if source.startswith("/*", position):
                raise SourceError("unterminated comment")
            kind, match = _next_token(source, position, language, punctuation)
            if match is None:
                raise SourceError(f"unexpected character {source[position]!r} at {position}")
        except SourceError as error:
            tokens.append(Token("error", str(error), position, position, newline))
            tokens.append(Token("end", "", position, position, newline))
            return tokens
        tokens.append(Token(kind, match, position, position + len(match), newline))
        position += len(match)
        newline = False


def _next_token(source: str, position: int, language: str, punctuation: list[str]) -> tuple[str, str | None]:
    char = source[position]
    if char.isdigit() or (char == "." and source[position + 1 : position + 2].isdigit()):
        number = _NUMBER[language].match(source, position)
        end = number.end()
        if end < len(source) and (source[end].isalnum() or source[end] in "_$"):
            raise SourceError("malformed number")
        return "number", number.group()
    if char == '"':
        if language == "java" and source.startswith('"""', position):
            close = source.find('"""', position + 3)
            if close < 0:
                raise SourceError("unterminated text block")
            return "string", source[position : close + 3]
        string = (_JAVA_STRING if language == "java" else _STRING).match(source, position)
        return "string", string.group() if string else _unterminated()
    if char == "'":
        quoted = (_JAVA_CHAR if language == "java" else _SINGLE_QUOTED).match(source, position)
        return ("char" if language == "java" else "string"), quoted.group() if quoted else _unterminated()
    if char == "`" and language == "javascript":
        template = _TEMPLATE.match(source, position)
        return "template", template.group() if template else _unterminated()
    name = _NAME.match(source, position)
    if name:
        return "name", name.group()
    for symbol in punctuation:
        if source.startswith(symbol, position):
            return "punct", symbol
    return "punct", None


def _unterminated() -> str:
    raise SourceError("unterminated string")
