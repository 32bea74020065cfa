"""A small tokenizer for the Java and JavaScript call syntax that BFCL decodes.

BFCL parses Java/JS model output with tree-sitter; funcall does not depend on it. The parsers in
java_call.py and js_call.py work on these tokens instead, each through a `TokenCursor` (the end of
this file). The tokenizer is bounded (linear in the input, no backtracking) and strict: anything it
cannot read (an unterminated string, a stray character such as a backtick in Java) raises
`SourceError`, which the decoders report as the decode failure tree-sitter's ERROR node would
cause. Comments are skipped like whitespace.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class SourceError(Exception):
    """The text is not valid in the subset of Java/JS that the decoders read."""


class Token(NamedTuple):
    kind: str  # name, number, string, char, template, regex, punct, error, end
    text: str
    start: int
    end: int
    newline_before: bool = False  # a line break between the previous token and this one


_SPACE = r"(?:[ \t\r\n\f\v\u00a0\ufeff]+|//[^\n]*|/\*.*?\*/)+"
_NAME = r"[^\W\d][\w$]*|[$][\w$]*"
_NUMBER = {
    "java": (
        r"0[xX][0-9a-fA-F_]+[lL]?|0[bB][01_]+[lL]?|\d[\d_]*[lL]"
        r"|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[fFdD]?"
    ),
    "javascript": (
        r"0[xX][0-9a-fA-F_]+n?|0[bB][01_]+n?|0[oO][0-7_]+n?|\d[\d_]*n"
        r"|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?"
    ),
}
_STRINGS = {
    # tree-sitter-java lets a "..." string span lines and reads '...' with one or more characters
    "java": [("string", r'"""(?:.|\n)*?"""'), ("string", r'"(?:[^"\\]|\\.)*"'), ("char", r"'(?:[^'\\\n]|\\.)+'")],
    "javascript": [
        ("string", r'"(?:[^"\\\n]|\\.)*"'), ("string", r"'(?:[^'\\\n]|\\.)*'"), ("template", r"`(?:[^`\\]|\\.)*`"),
    ],
}
_PUNCTUATION = {
    "java": ">>>= <<= >>= >>> ... -> :: ++ -- && || == != <= >= += -= *= /= %= &= |= ^= << "
    "( ) [ ] { } ; , . @ = > < ! ~ ? : + - * / & | ^ %",
    "javascript": ">>>= ... === !== **= <<= >>= >>> &&= ||= ??= => ** ++ -- && || ?? ?. == != <= >= += -= "
    "*= /= %= &= |= ^= << >> ( ) [ ] { } ; , . = > < ! ~ ? : + - * / & | ^ % @ #",
}


def _master_pattern(language: str) -> re.Pattern:
    """Leading space/comments, then one token (one match per token); `bad*` marks what
    tree-sitter rejects, `end` the end of the text."""
    symbols = sorted(_PUNCTUATION[language].split(), key=len, reverse=True)
    alternatives = [("end", r"\Z"), ("badcomment", r"/\*"), ("number", _NUMBER[language])]
    alternatives += _STRINGS[language]
    alternatives += [("name", _NAME), ("punct", "|".join(re.escape(symbol) for symbol in symbols)), ("bad", ".")]
    names = [f"{kind}_{index}" for index, (kind, _) in enumerate(alternatives)]
    tokens = "|".join(f"(?P<{name}>{pattern})" for name, (_, pattern) in zip(names, alternatives))
    return re.compile(f"(?P<space>{_SPACE})?(?:{tokens})", re.DOTALL)


_MASTER = {language: _master_pattern(language) for language in ("java", "javascript")}
_KIND = {name: "bad" if name.startswith("bad") else name.rsplit("_", 1)[0] for pattern in _MASTER.values() for name in pattern.groupindex}
_token = tuple.__new__  # Token(...) without the Python-level __new__ of a NamedTuple


_REGEX_LITERAL = re.compile(r"/(?![*/])(?:[^/\\\[\n]|\\.|\[(?:[^\]\\\n]|\\.)*\])+/[A-Za-z]*")
_ENDS_EXPRESSION = {")", "]", "}"}
_NOT_OPERANDS = {"return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case", "do", "else", "yield", "await"}


def _regex_allowed(tokens: list[Token]) -> bool:
    """JavaScript: a `/` starts a regular expression literal unless it follows an operand."""
    if not tokens:
        return True
    last = tokens[-1]
    if last.kind in ("number", "string", "template", "regex"):
        return False
    if last.kind == "name":
        return last.text in _NOT_OPERANDS
    return last.text not in _ENDS_EXPRESSION


def tokenize(source: str, language: str, position: int = 0) -> list[Token]:
    """Tokens from `position` on, ending with an `end` token. An unreadable spot ends the list
    with an `error` token first (so a parser can still re-read the text after a JSX element)."""
    tokens: list[Token] = []
    append = tokens.append
    length = len(source)
    javascript = language == "javascript"
    master = _MASTER[language]
    while True:  # one pass of finditer (every position matches), restarted after a JS regex literal
        for match in master.finditer(source, position):
            group = match.lastgroup
            kind = _KIND[group]
            start, position = match.span(group)
            space = match.group(1)
            newline = space is not None and "\n" in space
            if kind == "name" or kind == "string":
                append(_token(Token, (kind, match.group(group), start, position, newline)))
                continue
            if kind == "punct":
                text = match.group(group)
                if not (javascript and (text == "/" or text == "/=") and _regex_allowed(tokens)):
                    append(_token(Token, (kind, text, start, position, newline)))
                    continue
                regex = _REGEX_LITERAL.match(source, start)
                if regex is not None:
                    position = regex.end()
                    append(_token(Token, ("regex", regex.group(), start, position, newline)))
                    break
                kind = "bad"
            if kind == "number" and position < length and (source[position].isalnum() or source[position] in "_$"):
                kind = "bad"  # 0.5L, 5.0n, 12abc: tree-sitter reports an error
            if kind == "end":
                append(_token(Token, ("end", "", start, start, newline)))
                return tokens
            if kind == "bad":
                append(_token(Token, ("error", f"unreadable text at {start}", start, start, newline)))
                append(_token(Token, ("end", "", start, start, newline)))
                return tokens
            append(_token(Token, (kind, match.group(group), start, position, newline)))


def matching_brackets(tokens: list[Token]) -> dict[int, int]:
    """Index of each opening ( [ { token -> index of its closing token (unmatched ones are absent)."""
    pairs, stack = {}, []
    for index, token in enumerate(tokens):
        if token.kind != "punct":
            continue
        if token.text in ("(", "[", "{"):
            stack.append(index)
        elif token.text in (")", "]", "}") and stack:
            pairs[stack.pop()] = index
    return pairs


CLOSERS = {")", "]", "}", ";"}  # where a missing closing bracket is taken as inserted


class TokenCursor:
    """The token cursor the Java and JavaScript parsers share: the tokens of `source`, the index
    of the current one (`position`), each opening bracket's match (`closing`), and a nesting
    budget (`depth` against `max_depth`). Every read of an `error` token raises `SourceError`."""

    def __init__(self, source: str, language: str, max_depth: int):
        self.source = source
        self.tokens: list[Token] = tokenize(source, language)
        self.closing = matching_brackets(self.tokens)
        self.position = 0
        self.depth = 0
        self.max_depth = max_depth

    def peek(self, offset: int = 0) -> Token:
        try:
            token = self.tokens[self.position + offset]
        except IndexError:
            token = self.tokens[-1]
        if token.kind == "error":
            raise SourceError(token.text)
        return token

    def at(self, *texts: str) -> bool:
        token = self.tokens[self.position] if self.position < len(self.tokens) else self.tokens[-1]
        if token.kind == "error":
            raise SourceError(token.text)
        return token.text in texts and token.kind in ("punct", "name")

    def take(self, text: str | None = None) -> Token:
        token = self.peek()
        if token.kind == "end" or (text is not None and token.text != text):
            raise SourceError(f"expected {text or 'a token'} at {token.start}")
        self.position += 1
        return token

    def close(self, closer: str) -> None:
        """Take the closing bracket; where another closer or ';' stands instead, tree-sitter inserts
        the missing one (a MISSING node, no ERROR) and goes on, so this does too. At the end of
        the text it reports an ERROR."""
        token = self.peek()
        if token.text == closer or token.kind != "punct" or token.text not in CLOSERS:
            self.take(closer)

    def nest(self) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise SourceError("too deeply nested")
