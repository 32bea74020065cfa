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
# An element of the outer list is a call, maybe in parentheses, followed by a comma or by the final
# `]`. Read in three steps: the head (groups: opening parenthesis, call name, positional
# arguments), each keyword argument with what follows it (groups: name, value), the end.
_HEAD = re.compile(rf"(\({_WS})?({_NAME}(?:\.{_NAME})*)\({_WS}((?:{_SCALAR}{_then(r'[)]')})*)")
_KEYWORD = re.compile(rf"({_NAME}){_WS}={_WS}({_VALUE}){_then(r'[)]')}")
_END = re.compile(rf"\){_WS}(?:,{_WS}|(?=\]\Z))")
_END_IN_PARENTHESES = re.compile(rf"\){_WS}\){_WS}(?:,{_WS}|(?=\]\Z))")
_SPACES = re.compile(_WS)
_SCALARS = re.compile(_SCALAR)
_DICT_PAIRS = re.compile(rf"({_SCALAR}){_WS}:{_WS}({_SCALAR})")
# Python keywords matched as names above are refused here: none may stand where a value is, and
# neither they nor True/False/None where a call or keyword name is. `__debug__` cannot be assigned;
# it is left to the full parser too.
_RESERVED = frozenset(keyword.kwlist) - {"True", "False", "None"} | {"__debug__"}
_NOT_NAMES = _RESERVED | {"True", "False", "None"}
_CONSTANTS = {"True": True, "False": False, "None": None}
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Declined(Exception):
    """Not a plain call after all (a keyword where a name should be, a repeated keyword)."""


def plain_call_pairs(text: str) -> list[tuple[str, dict]] | None:
    """(name, arguments) pairs for `[call, ...]` text made of plain calls only, else None.
    `text` is what `ast.parse` would get (already bracketed and stripped)."""
    if text[:1] != "[" or text[-1:] != "]" or (not text.isascii() and _SURROGATE.search(text)):
        return None
    pairs = []
    position, end = _SPACES.match(text, 1).end(), len(text) - 1
    try:
        while position < end:
            head = _HEAD.match(text, position)
            if head is None:
                return None
            parenthesis, name, positional = head.groups()
            position = head.end()
            if not _NOT_NAMES.isdisjoint(name.split(".")):
                return None
            if positional:
                for item in _SCALARS.findall(positional):
                    _scalar(item)  # dropped, as BFCL drops positional arguments, but checked
            arguments: dict = {}
            while keyword := _KEYWORD.match(text, position):
                key, value = keyword.groups()
                if key in _NOT_NAMES or key in arguments:
                    return None  # a SyntaxError; the full parser words it
                first = value[0]
                arguments[key] = value[1:-1] if first == "'" or first == '"' else _value(value)
                position = keyword.end()
            closing = (_END_IN_PARENTHESES if parenthesis else _END).match(text, position)
            if closing is None:
                return None
            position = closing.end()
            pairs.append((name, arguments))
    except _Declined:
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
    if text in _RESERVED:
        raise _Declined(text)
    return _CONSTANTS.get(text, text)
