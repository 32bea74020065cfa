"""Decode a JavaScript call the way BFCL's tree-sitter based decoder does, with a small bounded parser.

BFCL parses the text (outer `[`/`]` cut off) as a JavaScript program with tree-sitter, fails on any
ERROR node, and then looks only at top-level expression statements: the first one that is directly
a call expression gives `[{callee source: {arg: text}}]`; with none (e.g. `f(), g()` is a sequence
expression, `x = f()` an assignment) the result is `None`. Each `name=value` argument keeps the
value's exact source text, minus one pair of surrounding quotes; bare identifiers and `true` are
kept under the key None (a second one, or a repeated name, is a decode failure); other positional
values are dropped.

Unlike tree-sitter this parser does no error recovery: it reads a subset of JavaScript (expression
statements with automatic semicolon insertion at line breaks, blocks, `let/const/var`; literals
including BigInt, templates, arrays, objects, `new`, calls, members, arrow functions, unary, binary,
ternary and assignment operators) and reports anything else as the ERROR tree-sitter would give.
"""

from __future__ import annotations

from funcall.bfcl.js_expressions import RESERVED, JsExpressionParser, Node
from funcall.bfcl.simple_call import decode_simple_call
from funcall.bfcl.source_tokens import SourceError
from funcall.calls.limits import DEFAULT_LIMITS, Limits, ParseFailure


class _JsParser(JsExpressionParser):
    """A JavaScript program: statements around the expressions its base class reads."""

    # ----------------------------------------------------------------- statements
    def program(self) -> list[Node | None]:
        """Top-level statements: the expression of each expression statement, None for others."""
        statements = []
        while self.peek().kind != "end":
            statements.append(self.statement())
        return statements

    def statement(self) -> Node | None:
        if self.at(";"):
            self.take()
            return None
        if self.at("{"):
            self.nest()
            self.take("{")
            while not self.at("}"):
                if self.peek().kind == "end":
                    raise SourceError("unclosed block")
                self.statement()
            self.close("}")
            self.depth -= 1
            return None
        if self.peek().kind == "name" and self.peek().text not in RESERVED and self.peek(1).text == ":":
            self.take()
            self.take(":")
            self.statement()
            return None
        if self.at("let", "const", "var") and self.peek(1).kind == "name":
            self.take()
            while True:
                self.identifier()
                if self.at("="):
                    self.take()
                    self.assignment()
                if not self.at(","):
                    break
                self.take()
            self.end_of_statement()
            return None
        expression = self.expression()
        self.end_of_statement()
        return expression

    def end_of_statement(self) -> None:
        token = self.peek()
        if token.text == ";" and token.kind == "punct":
            self.take()
        elif not (token.kind == "end" or token.newline_before or token.text == "}"):
            raise SourceError(f"expected ';' at {token.start}")


def _unquoted(value: str) -> str:
    if len(value) >= 1 and ((value[0] == value[-1] == '"') or (value[0] == value[-1] == "'")):
        return value[1:-1]
    return value


def decode_js(source: str, limits: Limits = DEFAULT_LIMITS) -> list[dict] | None | ParseFailure:
    """`source` is the text inside BFCL's outer brackets. Returns `[{callee: {arg: text}}]`, None
    when no top-level statement is a call, or a ParseFailure where tree-sitter reports an ERROR."""
    simple = decode_simple_call(source, "javascript")
    return simple if simple is not None else decode_js_program(source, limits)


def decode_js_program(source: str, limits: Limits = DEFAULT_LIMITS) -> list[dict] | None | ParseFailure:
    """decode_js without the fast path for plain calls."""
    try:
        parser = _JsParser(source, limits)
        statements = parser.program()
        call = next((s for s in statements if s is not None and s.kind == "call"), None)
        if call is None:
            return None
        arguments: dict = {}
        for argument in call.arguments:
            if argument is None:
                continue
            if argument.kind == "assignment":
                key, value = parser.text(argument.left), _unquoted(parser.text(argument.right))
            elif argument.kind in ("identifier", "true"):
                key, value = None, parser.text(argument)
            else:
                continue
            if key in arguments:
                raise SourceError("repeated argument name")
            arguments[key] = value
        return [{parser.text(call.callee): arguments}]
    except SourceError as error:
        return ParseFailure("syntax", f"JavaScript: {error}")
    except RecursionError:
        return ParseFailure("depth", "JavaScript: too deeply nested")
