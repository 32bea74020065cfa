"""Decode a Java call the way BFCL's tree-sitter based decoder does, with a small bounded parser.

BFCL parses the text (outer `[`/`]` cut off) as a Java program with tree-sitter, fails on any
ERROR node, and returns the FIRST method invocation found anywhere, as `[{name: {arg: text}}]`
(or `{}` when there is none). Values are source text, rendered as java_render.py describes.
`name=value` arguments are named; bare identifiers and class literals are kept under the key None;
other positional values are dropped; a repeated name is a decode failure.

Unlike tree-sitter this parser does no general error recovery: it reads a subset of Java
(statements that are expressions or local variable declarations; literals, names, field access,
calls, `new`, casts, lambdas, unary/binary/ternary operators, assignments, array access, method
references) and treats anything else as the ERROR node tree-sitter would produce. The recoveries
that model output hits are reproduced, as measured against tree-sitter-java 0.21: a MISSING `;`
(refused for a first statement of at most 10 characters, `foo(a=1)`, and where tree-sitter would
rather skip a short token) and a MISSING closing bracket before another closer or `;`.
"""

from __future__ import annotations

from funcall.bfcl.java_expressions import RESERVED, SHORT_STATEMENT_CHARS, JavaExpressionParser
from funcall.bfcl.java_render import render_value
from funcall.bfcl.simple_call import decode_simple_call
from funcall.bfcl.source_tokens import SourceError
from funcall.calls.limits import DEFAULT_LIMITS, Limits, ParseFailure


class _JavaParser(JavaExpressionParser):
    """A Java program: statements (expressions and local declarations) around the expressions
    its base class reads."""

    # ----------------------------------------------------------------- statements
    def program(self) -> None:
        statements: list[tuple[int, int, bool]] = []  # (first token, last token, ended without ';')
        while self.peek().kind != "end":
            first = self.position
            missing = self.statement(at_top=True) == "missing_semicolon"
            statements.append((first, self.position - 1, missing))
        self.check_missing_semicolons(statements)

    def check_missing_semicolons(self, statements: list[tuple[int, int, bool]]) -> None:
        """Where tree-sitter would rather build an ERROR than insert a MISSING ';' (its recovery
        costs: a MISSING token costs about as much as skipping one short token or one short
        statement), measured against tree-sitter-java 0.21 on single and chained statements."""
        for index, (first, last, missing) in enumerate(statements):
            if not missing:
                continue
            text = self.source[self.tokens[first].start : self.tokens[last].end]
            if index == 0 and len(text) + 30 * text.count("\n") <= SHORT_STATEMENT_CHARS:
                raise SourceError("first statement without ';' too short for tree-sitter to recover")
            if index + 1 < len(statements):
                following = self.tokens[statements[index + 1][0]]
                after = self.tokens[statements[index + 1][0] + 1]
                if following.kind == "name" and after.text == "." and len(following.text) < SHORT_STATEMENT_CHARS:
                    raise SourceError("tree-sitter reads the next line as a continuation")
            elif index > 0 and first == last and len(text) < SHORT_STATEMENT_CHARS:
                raise SourceError("tree-sitter skips a short last token instead of inserting ';'")

    def statement(self, at_top: bool = False) -> str:
        if self.at(";"):
            self.take()
            return "ok"
        if self.at("{"):
            self.block()
            return "ok"
        if self.peek().kind == "name" and self.peek().text not in RESERVED and self.peek(1).text == ":":
            self.take()
            self.take(":")
            if at_top and self.peek().kind == "end":
                return "missing_semicolon"
            return self.statement(at_top)
        if self.looks_like_declaration():
            self.declaration()
        else:
            self.expression()
        if self.at(";"):
            self.take()
            return "ok"
        if at_top:  # tree-sitter may insert a MISSING ';' (see check_missing_semicolons)
            return "missing_semicolon"
        raise SourceError(f"expected ';' at {self.peek().start}")

    def block(self) -> None:
        self.nest()
        self.take("{")
        while not self.at("}"):
            if self.peek().kind == "end":
                raise SourceError("unclosed block")
            self.statement()
        self.close("}")
        self.depth -= 1

    def looks_like_declaration(self) -> bool:
        saved = self.position
        try:
            self.type_()
            return self.peek().kind == "name" and self.peek().text not in RESERVED
        except SourceError:
            return False
        finally:
            self.position = saved

    def declaration(self) -> None:
        self.type_()
        while True:
            self.identifier()
            while self.at("["):
                self.take("[")
                self.take("]")
            if self.at("="):
                self.take()
                if self.at("{"):
                    self.array_initializer()
                else:
                    self.expression()
            if not self.at(","):
                return
            self.take()


def decode_java(source: str, limits: Limits = DEFAULT_LIMITS) -> list[dict] | dict | ParseFailure:
    """`source` is the text inside BFCL's outer brackets. Returns `[{name: {arg: text}}]`, `{}` when
    the program has no method invocation, or a ParseFailure where tree-sitter reports an ERROR."""
    simple = decode_simple_call(source, "java")
    return simple if simple is not None else decode_java_program(source, limits)


def decode_java_program(source: str, limits: Limits = DEFAULT_LIMITS) -> list[dict] | dict | ParseFailure:
    """decode_java without the fast path for plain calls."""
    try:
        parser = _JavaParser(source, limits)
        parser.program()
        invocations = [n for n in parser.nodes if n.kind == "method"]
        if not invocations:
            return {}
        call = min(invocations, key=lambda n: (n.first, -n.last))
        owner = call.parts["object"]
        name = call.parts["name"].text if owner is None else f"{parser.raw(owner)}.{call.parts['name'].text}"
        arguments: dict = {}
        for argument in call.parts["arguments"]:
            if argument.kind == "assignment":
                key, value = parser.raw(argument.parts["left"]), render_value(parser, argument.parts["right"], top=True)
            elif argument.kind in ("name", "class_literal"):
                key, value = None, render_value(parser, argument, top=True)
            else:
                continue
            if key in arguments:
                raise SourceError("repeated argument name")
            arguments[key] = value
        return [{name: arguments}]
    except SourceError as error:
        return ParseFailure("syntax", f"Java: {error}")
    except RecursionError:
        return ParseFailure("depth", "Java: too deeply nested")
