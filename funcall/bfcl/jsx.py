"""Skip over a JSX element in JavaScript model output, as tree-sitter-javascript reads one.

tree-sitter-javascript parses JSX, so `<answer>[f(a=1)]</answer>` is an expression statement (a
JSX element, not a call: BFCL then finds no call) rather than a syntax error. The element is
skipped over as raw text: tags and attributes, text children, nested elements, and `{...}`
expressions, each checked by the `check_expression` callback (the JS parser), with braces matched
naively. Anything else raises SourceError, the ERROR tree-sitter would report.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from funcall.bfcl.source_tokens import SourceError

_JSX_NAME = re.compile(r"[A-Za-z_$][\w$.:-]*")
_JSX_SPACE = re.compile(r"\s*")
_JSX_STRING = re.compile(r"\"[^\"]*\"|'[^']*'")


def skip_jsx_element(source: str, position: int, max_depth: int, check_expression: Callable[[str], None], depth: int = 0) -> int:
    """Index just past the JSX element starting at `source[position] == "<"`."""
    if depth > max_depth:
        raise SourceError("too deeply nested")
    position += 1
    name = _JSX_NAME.match(source, position)
    position = name.end() if name else position
    while True:  # attributes
        position = _JSX_SPACE.match(source, position).end()
        if source.startswith("/>", position):
            return position + 2
        if source.startswith(">", position):
            position += 1
            break
        attribute = _JSX_NAME.match(source, position)
        if attribute:
            position = attribute.end()
            if source.startswith("=", position):
                value = _JSX_STRING.match(source, position + 1)
                if value:
                    position = value.end()
                elif source.startswith("{", position + 1):
                    position = _skip_braces(source, position + 1, check_expression)
                else:
                    raise SourceError("bad JSX attribute")
        elif source.startswith("{", position):
            position = _skip_braces(source, position, check_expression)
        else:
            raise SourceError("bad JSX tag")
    while True:  # children
        if position >= len(source):
            raise SourceError("unclosed JSX element")
        char = source[position]
        if source.startswith("</", position):
            close = _JSX_NAME.match(source, position + 2)
            position = _JSX_SPACE.match(source, close.end() if close else position + 2).end()
            if not source.startswith(">", position):
                raise SourceError("bad JSX closing tag")
            return position + 1
        if char == "<":
            position = skip_jsx_element(source, position, max_depth, check_expression, depth + 1)
        elif char == "{":
            position = _skip_braces(source, position, check_expression)
        elif char in "}>":
            raise SourceError("unexpected character in JSX text")
        else:
            position += 1


def _skip_braces(source: str, position: int, check_expression: Callable[[str], None]) -> int:
    """Index past a JSX `{expression}` (matching braces naively), checking the expression."""
    depth = 0
    for index in range(position, len(source)):
        if source[index] == "{":
            depth += 1
        elif source[index] == "}":
            depth -= 1
            if depth == 0:
                check_expression(source[position + 1 : index])
                return index + 1
    raise SourceError("unclosed brace in JSX")
