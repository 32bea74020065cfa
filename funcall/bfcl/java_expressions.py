"""Java expressions, types and the tree nodes they make: the part of the Java call decoder that
reads a value (java_call.py reads the statements around it, java_render.py renders the nodes).

`JavaExpressionParser` is a recursive-descent parser over `funcall.bfcl.source_tokens` for the
subset of Java that model output uses as call arguments: literals, names, field access, calls,
`new` with array and object creation, casts, lambdas, unary/binary/ternary operators, assignments,
array access and method references. Anything else raises `SourceError`, which the decoder turns
into the decode failure tree-sitter's ERROR node would be. Nesting is bounded by the cursor's depth
limit. Each node that renders specially (calls, class literals, creations) is also kept in
``nodes``, in source order, for the decoder to find the first method invocation.
"""

from __future__ import annotations

from funcall.bfcl.source_tokens import SourceError, Token, TokenCursor
from funcall.calls.limits import Limits

PRIMITIVES = {"byte", "short", "int", "long", "float", "double", "boolean", "char", "void"}
LITERAL_WORDS = {"true", "false", "null", "this", "super"}
# Words tree-sitter reads as keywords inside expressions; other Java keywords (`public`, `class`,
# `if`, ...) are lexed as plain identifiers there, so `put("k", public)` decodes.
RESERVED = {"new", "instanceof", "switch"} | PRIMITIVES | LITERAL_WORDS
ASSIGNMENT_OPS = {"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=", ">>>="}
BINARY_OPS = {"||", "&&", "|", "^", "&", "==", "!=", "<", ">", "<=", ">=", "<<", ">>", ">>>", "+", "-", "*", "/", "%"}
PREFIX_OPS = {"-", "+", "!", "~", "++", "--"}
POSTFIX_STARTS = {".", "[", "::", "++", "--"}
_LEAF_KINDS = {"number": "literal", "string": "string", "char": "char"}  # token kind -> node kind
SHORT_STATEMENT_CHARS = 10  # tree-sitter prefers an ERROR to a MISSING ";" at or below this size


class Node:
    __slots__ = ("first", "kind", "last", "parts")

    def __init__(self, kind: str, first: int, last: int, parts: dict | None = None):
        self.kind = kind  # name, string, char, literal, method, class_literal, array_creation, object_creation, assignment, other
        self.first, self.last = first, last  # token index range [first, last]
        self.parts = {} if parts is None else parts


class JavaExpressionParser(TokenCursor):
    def __init__(self, source: str, limits: Limits):
        super().__init__(source, "java", limits.max_depth)
        self.nodes: list[Node] = []  # every node that renders specially or may be extracted
        self.specials_by_first_token: dict[int, list[Node]] | None = None  # built by java_render

    def node(self, kind: str, first: int, **parts) -> Node:
        made = Node(kind, first, self.position - 1, parts)
        if kind in ("method", "class_literal", "array_creation", "object_creation"):
            self.nodes.append(made)
        return made

    # ----------------------------------------------------------------- types
    def identifier(self) -> Token:
        token = self.peek()
        if token.kind != "name" or token.text in RESERVED:
            raise SourceError(f"expected an identifier at {token.start}")
        return self.take()

    def type_(self, allow_array: bool = True) -> None:
        if self.peek().kind == "name" and self.peek().text in PRIMITIVES:
            self.take()
        else:
            self.identifier()
            self.type_arguments()
            while self.at(".") and self.peek(1).kind == "name" and self.peek(1).text not in RESERVED:
                self.take()
                self.identifier()
                self.type_arguments()
        while allow_array and self.at("[") and self.peek(1).text == "]":
            self.take()
            self.take()

    def type_arguments(self) -> None:
        if not self.at("<"):
            return
        self.nest()
        self.take("<")
        while not self.at(">"):
            if self.at("?"):
                self.take()
                if self.at("extends", "super"):
                    self.take()
                    self.type_()
            else:
                self.type_()
            if not self.at(","):
                break
            self.take()
        self.close_angle()
        self.depth -= 1

    def close_angle(self) -> None:
        token = self.peek()
        if token.text == ">":
            self.take()
        elif token.kind == "punct" and token.text.startswith(">") and set(token.text) == {">"}:
            # `>>` closing two type argument lists: split the token in place
            rest = token.text[1:]
            self.tokens[self.position] = Token("punct", rest, token.start + 1, token.end, False)
        else:
            raise SourceError(f"expected '>' at {token.start}")

    # ----------------------------------------------------------------- expressions
    def expression(self) -> Node:
        leaf = self.leaf()
        if leaf is not None:
            return leaf
        self.nest()
        first = self.position
        if self.at_named_argument():  # `name = value`: the name read directly (see leaf)
            self.position += 2
            left = Node("name", first, first, {})
            result = self.node("assignment", first, left=left, right=self.expression())
        elif self.is_lambda():
            result = self.lambda_()
        else:
            left = self.ternary()
            if self.peek().kind == "punct" and self.peek().text in ASSIGNMENT_OPS:
                self.take()
                right = self.expression()
                result = self.node("assignment", first, left=left, right=right)
            else:
                result = left
        self.depth -= 1
        return result

    def leaf(self) -> Node | None:
        """A one-token operand right before `,` or `)` (most argument values), read directly: the
        node the descent ternary > binary > unary > postfix > primary would return; else None."""
        position, tokens = self.position, self.tokens
        if position + 1 >= len(tokens) or self.depth + 2 > self.max_depth:  # expression and unary nest
            return None
        token, following = tokens[position], tokens[position + 1]
        if following.kind != "punct" or (following.text != "," and following.text != ")"):
            return None
        kind = _LEAF_KINDS.get(token.kind)
        if kind is None:
            if token.kind != "name" or (token.text in RESERVED and token.text not in LITERAL_WORDS):
                return None
            kind = "literal" if token.text in LITERAL_WORDS else "name"
        self.position = position + 1
        return Node(kind, position, position, {})

    def at_named_argument(self) -> bool:
        """At `name =` (not a reserved word), with room for the unary level that would read it."""
        position, tokens = self.position, self.tokens
        if position + 1 >= len(tokens) or self.depth + 1 > self.max_depth:
            return False
        token, following = tokens[position], tokens[position + 1]
        return token.kind == "name" and token.text not in RESERVED and following.kind == "punct" and following.text == "="

    def is_lambda(self) -> bool:
        if self.peek().kind == "name" and self.peek(1).text == "->":
            return True
        if not self.at("("):
            return False
        closing = self.closing.get(self.position)
        return closing is not None and self.tokens[closing + 1].text == "->"

    def lambda_(self) -> Node:
        first = self.position
        if self.at("("):
            self.take()
            while not self.at(")"):
                if self.peek(1).kind == "name" and self.peek(1).text not in RESERVED and self.peek().kind == "name":
                    self.type_()
                self.identifier()
                if not self.at(","):
                    break
                self.take()
            self.take(")")
        else:
            self.identifier()
        self.take("->")
        if self.at("{"):
            self.block()
        else:
            self.expression()
        return self.node("other", first)

    def ternary(self) -> Node:
        first = self.position
        condition = self.binary()
        if not self.at("?"):
            return condition
        self.take()
        self.expression()
        self.take(":")
        self.expression()
        return self.node("other", first)

    def binary(self) -> Node:
        first = self.position
        left = self.unary()
        while True:
            token = self.peek()
            if token.kind == "punct" and token.text in BINARY_OPS:
                self.take()
                self.unary()
            elif token.kind == "name" and token.text == "instanceof":
                self.take()
                self.type_()
            else:
                return left if self.position - 1 == left.last else self.node("other", first)

    def unary(self) -> Node:
        self.nest()
        first = self.position
        if self.peek().kind == "punct" and self.peek().text in PREFIX_OPS:
            self.take()
            self.unary()
            result = self.node("other", first)
        elif self.is_cast():
            self.take("(")
            self.type_()
            while self.at("&"):
                self.take()
                self.type_()
            self.take(")")
            self.unary()
            result = self.node("other", first)
        else:
            result = self.postfix(self.primary())
        self.depth -= 1
        return result

    def is_cast(self) -> bool:
        if not self.at("("):
            return False
        saved = self.position
        try:
            self.take("(")
            primitive = self.peek().text in PRIMITIVES
            self.type_()
            if not self.at(")"):
                return False
            self.take(")")
            following = self.peek()
            if primitive:
                return following.kind != "end" and following.text not in (")", ";", ",", "]", "}")
            return following.kind in ("name", "number", "string", "char") and following.text not in ("instanceof",) or following.text in ("(", "!", "~")
        except SourceError:
            return False
        finally:
            self.position = saved

    def postfix(self, result: Node) -> Node:
        first = result.first
        while True:
            token = self.peek()
            if token.kind != "punct" or token.text not in POSTFIX_STARTS:
                return result
            if self.at(".") and self.peek(1).text == "class":
                self.take()
                self.take()
                result = self.node("class_literal", first)
            elif self.at("."):
                self.take()
                if self.at("<"):
                    self.type_arguments()
                name = self.take()
                if name.kind != "name" or (name.text in RESERVED and name.text not in ("this", "super")):
                    raise SourceError(f"expected a member name at {name.start}")
                if self.at("("):
                    arguments = self.arguments()
                    result = self.node("method", first, object=result, name=name, arguments=arguments)
                else:
                    result = self.node("other", first)
            elif self.at("["):
                self.take()
                self.expression()
                self.close("]")
                result = self.node("other", first)
            elif self.at("::"):
                self.take()
                if not self.at("new"):
                    self.identifier()
                else:
                    self.take()
                result = self.node("other", first)
            elif self.at("++", "--"):
                self.take()
                result = self.node("other", first)
            else:
                return result

    def arguments(self) -> list[Node]:
        self.nest()
        self.take("(")
        values = []
        while not self.at(")"):
            values.append(self.expression())
            if not self.at(","):
                break
            self.take()
            if self.at(")"):
                raise SourceError("trailing comma in arguments")
        self.close(")")
        self.depth -= 1
        return values

    def primary(self) -> Node:
        token = self.peek()
        first = self.position
        if token.kind in ("number", "string", "char"):
            self.take()
            return self.node(token.kind if token.kind != "number" else "literal", first)
        if token.kind == "name" and token.text == "new":
            return self.creation()
        if token.kind == "name" and token.text in PRIMITIVES and self.peek(1).text == ".":
            self.take()
            self.take(".")
            self.take("class")
            return self.node("class_literal", first)
        if token.kind == "name" and token.text in LITERAL_WORDS:
            self.take()
            if token.text in ("this", "super") and self.at("("):
                raise SourceError("constructor call")
            return self.node("literal", first)
        if token.kind == "name":
            name = self.identifier()
            if self.at("("):
                arguments = self.arguments()
                return self.node("method", first, object=None, name=name, arguments=arguments)
            return self.node("name", first)
        if self.at("("):
            self.take()
            self.expression()
            self.close(")")
            return self.node("other", first)
        raise SourceError(f"unexpected {token.text!r} at {token.start}")

    def creation(self) -> Node:
        first = self.position
        self.take("new")
        type_first = self.position
        self.type_(allow_array=False)
        type_node = Node("other", type_first, self.position - 1)
        if self.at("["):
            sized = False
            while self.at("["):
                self.take()
                if not self.at("]"):
                    sized = True
                    self.expression()
                self.take("]")
            initializer = None
            if not sized and self.at("{"):
                initializer = self.array_initializer()
            elif not sized:
                raise SourceError("array creation without size or initializer")
            return self.node("array_creation", first, type=type_node, initializer=initializer)
        arguments = self.arguments()
        if self.at("{"):
            self.class_body()
        return self.node("object_creation", first, type=type_node, arguments=arguments)

    def array_initializer(self) -> Node:
        self.nest()
        first = self.position
        self.take("{")
        while not self.at("}"):
            if self.at("{"):
                self.array_initializer()
            else:
                self.expression()
            if not self.at(","):
                break
            self.take()
        self.close("}")
        self.depth -= 1
        return self.node("other", first)

    def class_body(self) -> None:
        self.nest()
        self.take("{")
        while not self.at("}"):
            if self.at("{"):
                self.block()
            elif self.at(";"):
                self.take()
            else:
                raise SourceError("only initializer blocks are read inside a class body")
        self.close("}")
        self.depth -= 1

    def raw(self, node: Node) -> str:
        return self.source[self.tokens[node.first].start : self.tokens[node.last].end]
