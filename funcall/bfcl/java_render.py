"""Java argument values as BFCL's decoder writes them (its `traverse_node` over the tree-sitter tree).

A value is rendered from the parse of java_call.py: a top-level string or char literal loses its
quotes; a method invocation or class literal keeps its exact source text; an array creation
becomes `new T[]{...}` (dimensions dropped; without an initializer BFCL's decoder crashes, which
is a decode failure); an object creation becomes `new T(args)` with its class body dropped; every
other node is the concatenation of its parts without whitespace (`1 + 2` -> `1+2`).
"""

from __future__ import annotations

from funcall.bfcl.java_expressions import JavaExpressionParser, Node
from funcall.bfcl.source_tokens import SourceError


def render_value(parser: JavaExpressionParser, node: Node, top: bool = False) -> str:
    tokens = parser.tokens
    if node.kind in ("string", "char") and node.first == node.last:
        text = tokens[node.first].text
        return text[1:-1] if top else text
    if node.kind in ("method", "class_literal"):
        return parser.raw(node)
    if node.kind == "array_creation":
        if node.parts["initializer"] is None:
            raise SourceError("BFCL's decoder cannot render an array creation without initializer")
        return f"new {render_value(parser, node.parts['type'])}[]{render_value(parser, node.parts['initializer'])}"
    if node.kind == "object_creation":
        arguments = ", ".join(render_value(parser, argument) for argument in node.parts["arguments"])
        return f"new {render_value(parser, node.parts['type'])}({arguments})"
    if parser.specials_by_first_token is None:
        parser.specials_by_first_token = {}
        for candidate in parser.nodes:
            parser.specials_by_first_token.setdefault(candidate.first, []).append(candidate)
    return _render_span(parser, node.first, node.last, parser.specials_by_first_token)


def _render_span(parser: JavaExpressionParser, first: int, last: int, by_first: dict[int, list[Node]]) -> str:
    """Tokens first..last joined without spaces, each outermost special node rendered instead."""
    pieces, index = [], first
    while index <= last:
        fitting = [c for c in by_first.get(index, ()) if c.last <= last]
        if fitting:
            special = max(fitting, key=lambda c: c.last)
            pieces.append(render_value(parser, special))
            index = special.last + 1
        else:
            pieces.append(parser.tokens[index].text)
            index += 1
    return "".join(pieces)
