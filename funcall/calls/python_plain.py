"""Fast path of the Python-call decoder for the commonest model output: plain calls.

`[f(a='x', b=5, c=1.5, d=True, e=[1, 'y'], g={'k': None}), mod.g()]` is read here with regular
expressions instead of `ast.parse` (whose cost is mostly building the Python AST objects). Values
are scalars (a string without backslashes, a decimal integer or `d.d` float, optionally negative,
`True`/`False`/`None`, a plain ASCII name) or a flat list, tuple or dict of scalars; positional
scalars before the keywords are allowed (and dropped, as BFCL drops them), so are trailing commas
and a call in parentheses. Anything else (an escape, an exponent, a nested container, a repeated
keyword, a Python keyword where a name should be, a non-ASCII name, a tab outside a string, a lone
surrogate, ...) returns None and goes to the full parser in python_syntax.py, which gives the same
pairs on everything accepted here.
"""

from __future__ import annotations

import keyword
import re

_WS = r"[ \n]*"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"  # keywords are refused after the match (_RESERVED)
# No backslash (escapes), no line break and no NUL (compile() refuses it); lone surrogates, which
# compile() refuses too, are looked for apart (_SURROGATE: in a character set they make the
# pattern slow to compile).
_STRING = r"'[^'\\\n\r\x00]*'|\"[^\"\\\n\r\x00]*\""
_NUMBER = r"-?(?:0|[1-9][0-9]{0,40})(?:\.[0-9]{1,40})?(?![A-Za-z0-9_.])"  # `007` is a SyntaxError
_SCALAR = rf"(?:{_STRING}|{_NUMBER}|{_NAME})"


def _then(closer: str) -> str:
    """After an item: a comma, or the closing bracket next (which is not consumed)."""
    return rf"{_WS}(?:,{_WS}|(?={closer}))"


_TUPLE = rf"\({_WS}(?:\)|{_SCALAR}{_WS},{_WS}(?:{_SCALAR}{_then(r'[)]')})*\))"  # `(x)` is no tuple
_VALUE = (
    rf"{_SCALAR}|\[{_WS}(?:{_SCALAR}{_then(r'[]]')})*\]|{_TUPLE}"
    rf"|\{{{_WS}(?:{_SCALAR}{_WS}:{_WS}{_SCALAR}{_then(r'[}]')})*\}}"
)
# One element of the outer list (a call, maybe in parentheses) with the comma after it or the final
# `]` next: groups (opening parenthesis, call name, keyword arguments). Positional scalars are
# allowed before the keywords.
_ELEMENT = re.compile(
    rf"(\({_WS})?({_NAME}(?:\.{_NAME})*)\({_WS}(?:{_SCALAR}{_then(r'[)]')})*"
    rf"((?:{_NAME}{_WS}={_WS}(?:{_VALUE}){_then(r'[)]')})*)\)(?(1){_WS}\))"
    rf"{_WS}(?:,{_WS}|(?=\]\Z))"
)
_SPACES = re.compile(_WS)
_KEYWORD_PAIRS = re.compile(rf"({_NAME}){_WS}={_WS}({_VALUE})")
_SCALARS = re.compile(_SCALAR)
_DICT_PAIRS = re.compile(rf"({_SCALAR}){_WS}:{_WS}({_SCALAR})")
# Names outside strings (strings come out as ""): none may be a keyword, and True/False/None may
# only be values, never a call or keyword name. `__debug__` cannot be assigned: left to ast too.
_WORDS = re.compile(rf"{_STRING}|({_NAME})")
_RESERVED = frozenset(keyword.kwlist) - {"True", "False", "None"} | {"__debug__"}
_CONSTANTS = {"True": True, "False": False, "None": None}
_SURROGATE = re.compile("[\ud800-\udfff]")


def plain_call_pairs(text: str) -> list[tuple[str, dict]] | None:
    """(name, arguments) pairs for `[call, ...]` text made of plain calls only, else None.
    `text` is what `ast.parse` would get (already bracketed and stripped)."""
    if text[:1] != "[" or text[-1:] != "]" or (not text.isascii() and _SURROGATE.search(text)):
        return None
    pairs = []
    position, end = _SPACES.match(text, 1).end(), len(text) - 1
    while position < end:
        element = _ELEMENT.match(text, position)
        if element is None:
            return None
        _, name, keywords = element.groups()
        position = element.end()
        if not _CONSTANTS.keys().isdisjoint(name.split(".")):
            return None
        arguments: dict = {}
        for key, value in _KEYWORD_PAIRS.findall(keywords):
            if key in arguments or key in _CONSTANTS:
                return None  # a SyntaxError; the full parser words it
            arguments[key] = _value(value)
        pairs.append((name, arguments))
    if not _RESERVED.isdisjoint(_WORDS.findall(text)):
        return None
    return pairs


def _value(text: str):
    first = text[0]
    if first == "[":
        return [_scalar(item) for item in _SCALARS.findall(text)]
    if first == "(":
        return tuple(_scalar(item) for item in _SCALARS.findall(text))
    if first == "{":
        result = {}
        for key, value in _DICT_PAIRS.findall(text):
            result[_scalar(key)] = _scalar(value)  # a repeated key keeps its first place, last value
        return result
    return _scalar(text)


def _scalar(text: str):
    first = text[0]
    if first == "'" or first == '"':
        return text[1:-1]
    if first == "-" or first.isdigit():
        return float(text) if "." in text else int(text)
    return _CONSTANTS.get(text, text)
