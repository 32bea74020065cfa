"""JavaScript expressions and the tree nodes they make: the part of the JavaScript call decoder that
reads a value (js_call.py reads the statements around it).

`JsExpressionParser` is a recursive-descent parser over `funcall.bfcl.source_tokens` for what
model output uses as call arguments: literals (BigInt, templates, regexes), arrays, objects,
`new`, calls, members, arrow functions, unary, binary, ternary and assignment operators, and JSX
elements, skipped as raw text (`funcall.bfcl.jsx`). Anything else raises `SourceError`, which the
decoder turns into the decode failure tree-sitter's ERROR node would be. Nesting is bounded by the
cursor's depth limit.
"""

from __future__ import annotations

from funcall.bfcl.jsx import skip_jsx_element
from funcall.bfcl.source_tokens import SourceError, Token, TokenCursor, matching_brackets, tokenize
from funcall.calls.limits import DEFAULT_LIMITS, Limits

RESERVED = {
    "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do", "else",
    "export", "extends", "finally", "for", "function", "if", "import", "in", "instanceof", "new", "return",
    "super", "switch", "this", "throw", "try", "typeof", "var", "void", "while", "with", "null", "true",
    "false", "enum",
}
ASSIGNMENT_OPS = {"=", "+=", "-=", "*=", "/=", "%=", "**=", "<<=", ">>=", ">>>=", "&=", "|=", "^=", "&&=", "||=", "??="}
BINARY_OPS = {
    "||", "&&", "??", "|", "^", "&", "==", "!=", "===", "!==", "<", ">", "<=", ">=", "<<", ">>", ">>>",
    "+", "-", "*", "/", "%", "**",
}
BINARY_WORDS = {"in", "instanceof"}
PREFIX_OPS = {"-", "+", "!", "~", "++", "--"}
PREFIX_WORDS = {"typeof", "void", "delete", "await"}
POSTFIX_STARTS = {".", "?.", "[", "("}
_LITERAL_TOKENS = {"number", "string", "template", "regex"}
_OTHER_WORDS = {"false", "null", "this", "super", "undefined"}  # words primary() reads as an "other" operand


class Node:
    __slots__ = ("arguments", "callee", "first", "kind", "last", "left", "right")

    def __init__(self, kind: str, first: int, last: int, callee: Node | None = None, arguments: list | None = None,
                 left: Node | None = None, right: Node | None = None):
        self.kind = kind  # call, assignment, identifier, true, other
        self.first, self.last = first, last
        self.callee, self.arguments, self.left, self.right = callee, arguments, left, right


class JsExpressionParser(TokenCursor):
    def __init__(self, source: str, limits: Limits):
        super().__init__(source, "javascript", limits.max_depth)

    def made(self, kind: str, first: int, **parts) -> Node:
        return Node(kind, first, self.position - 1, **parts)

    def text(self, node: Node) -> str:
        return self.source[self.tokens[node.first].start : self.tokens[node.last].end]

    def identifier(self) -> Token:
        token = self.peek()
        if token.kind != "name" or token.text in RESERVED:
            raise SourceError(f"expected an identifier at {token.start}")
        return self.take()

    # ----------------------------------------------------------------- expressions
    def expression(self) -> Node:
        first = self.position
        result = self.assignment()
        if not self.at(","):
            return result
        while self.at(","):
            self.take()
            self.assignment()
        return self.made("other", first)

    def assignment(self) -> Node:
        leaf = self.leaf()
        if leaf is not None:
            return leaf
        self.nest()
        first = self.position
        if self.at_named_argument():  # `name = value`: the name read directly (see leaf)
            self.position += 2
            left = Node("identifier", first, first)
            result = self.made("assignment", first, left=left, right=self.assignment())
        elif self.is_arrow():
            result = self.arrow()
        else:
            left = self.ternary()
            if self.peek().kind == "punct" and self.peek().text in ASSIGNMENT_OPS:
                operator = self.take().text
                right = self.assignment()
                result = self.made("assignment" if operator == "=" else "other", first, left=left, right=right)
            else:
                result = left
        self.depth -= 1
        return result

    def leaf(self) -> Node | None:
        """A one-token operand right before `,` or `)` (most argument values), read directly: the
        node the descent ternary > binary > unary > postfix > primary would return; else None."""
        position, tokens = self.position, self.tokens
        if position + 1 >= len(tokens) or self.depth + 2 > self.max_depth:  # assignment and unary nest
            return None
        token, following = tokens[position], tokens[position + 1]
        if following.kind != "punct" or (following.text != "," and following.text != ")"):
            return None
        if token.kind in _LITERAL_TOKENS:
            kind = "other"
        elif token.kind != "name" or token.text in PREFIX_WORDS or token.text == "new":
            return None
        elif token.text == "true":
            kind = "true"
        elif token.text in _OTHER_WORDS:
            kind = "other"
        elif token.text in RESERVED:
            return None
        else:
            kind = "identifier"
        self.position = position + 1
        return Node(kind, position, position)

    def at_named_argument(self) -> bool:
        """At `identifier =`, with room for the unary level that would read the identifier."""
        position, tokens = self.position, self.tokens
        if position + 1 >= len(tokens) or self.depth + 1 > self.max_depth:
            return False
        token, following = tokens[position], tokens[position + 1]
        return (
            token.kind == "name" and token.text not in RESERVED and token.text not in PREFIX_WORDS
            and token.text not in _OTHER_WORDS and following.kind == "punct" and following.text == "="
        )

    def is_arrow(self) -> bool:
        if self.at("async") and self.peek(1).kind == "name" and self.peek(2).text == "=>":
            return True
        if self.peek().kind == "name" and self.peek().text not in RESERVED and self.peek(1).text == "=>":
            return True
        if not self.at("("):
            return False
        closing = self.closing.get(self.position)
        return closing is not None and self.tokens[closing + 1].text == "=>"

    def arrow(self) -> Node:
        first = self.position
        if self.at("async"):
            self.take()
        if self.at("("):
            self.take("(")
            while not self.at(")"):
                if self.at("..."):
                    self.take()
                self.identifier()
                if self.at("="):
                    self.take()
                    self.assignment()
                if not self.at(","):
                    break
                self.take()
            self.take(")")
        else:
            self.identifier()
        self.take("=>")
        if self.at("{"):
            self.statement()
        else:
            self.assignment()
        return self.made("other", first)

    def ternary(self) -> Node:
        first = self.position
        condition = self.binary()
        if not self.at("?"):
            return condition
        self.take()
        self.assignment()
        self.take(":")
        self.assignment()
        return self.made("other", first)

    def binary(self) -> Node:
        first = self.position
        left = self.unary()
        operands = 1
        while True:
            token = self.peek()
            if (token.kind == "punct" and token.text in BINARY_OPS) or (token.kind == "name" and token.text in BINARY_WORDS):
                self.take()
                self.unary()
                operands += 1
            else:
                return left if operands == 1 else self.made("other", first)

    def unary(self) -> Node:
        self.nest()
        first = self.position
        token = self.peek()
        if (token.kind == "punct" and token.text in PREFIX_OPS) or (token.kind == "name" and token.text in PREFIX_WORDS):
            self.take()
            self.unary()
            result = self.made("other", first)
        else:
            result = self.postfix(self.primary())
            if self.at("++", "--") and not self.peek().newline_before:
                self.take()
                result = self.made("other", first)
        self.depth -= 1
        return result

    def postfix(self, result: Node) -> Node:
        first = result.first
        while True:
            token = self.peek()
            if token.kind not in ("punct", "template") or (token.kind == "punct" and token.text not in POSTFIX_STARTS):
                return result
            if self.at(".", "?."):
                self.take()
                if self.at("("):
                    result = self.made("call", first, callee=result, arguments=self.arguments())
                    continue
                if self.at("["):
                    continue
                name = self.take()
                if name.kind != "name" and not (name.kind == "punct" and name.text == "#"):
                    raise SourceError(f"expected a property name at {name.start}")
                if name.text == "#":
                    self.take()
                result = self.made("other", first)
            elif self.at("["):
                self.take()
                self.expression()
                self.close("]")
                result = self.made("other", first)
            elif self.at("("):
                result = self.made("call", first, callee=result, arguments=self.arguments())
            elif self.peek().kind == "template":
                self.take()
                result = self.made("call", first, callee=result, arguments=[])
            else:
                return result

    def arguments(self) -> list[Node]:
        self.nest()
        self.take("(")
        values = []
        while not self.at(")"):
            if self.at("..."):
                self.take()
                self.assignment()
                values.append(None)
            else:
                values.append(self.assignment())
            if not self.at(","):
                break
            self.take()
        self.close(")")
        self.depth -= 1
        return values

    def primary(self) -> Node:
        token = self.peek()
        first = self.position
        if token.kind in ("number", "string", "template", "regex"):
            self.take()
            return self.made("other", first)
        if token.kind == "name":
            if token.text == "new":
                self.take()
                if self.at("."):
                    self.take(".")
                    self.take("target")
                    return self.made("other", first)
                self.primary()
                while self.at(".", "["):
                    if self.at("."):
                        self.take()
                        self.take()
                    else:
                        self.take("[")
                        self.expression()
                        self.take("]")
                if self.at("("):
                    self.arguments()
                return self.made("other", first)
            if token.text == "true":
                self.take()
                return self.made("true", first)
            if token.text in ("false", "null", "this", "super"):
                self.take()
                return self.made("other", first)
            if token.text == "undefined":
                self.take()
                return self.made("other", first)
            self.identifier()
            return self.made("identifier", first)
        if self.at("("):
            self.take()
            self.expression()
            self.close(")")
            return self.made("other", first)
        if self.at("["):
            return self.array()
        if self.at("{"):
            return self.object_()
        if self.at("<") and (self.peek(1).kind == "name" or self.peek(1).text == ">"):
            return self.jsx()
        raise SourceError(f"unexpected {token.text!r} at {token.start}")

    def array(self) -> Node:
        self.nest()
        first = self.position
        self.take("[")
        while not self.at("]"):
            if self.at(","):
                self.take()
                continue
            if self.at("..."):
                self.take()
            self.assignment()
            if not self.at(","):
                break
            self.take()
        self.close("]")
        self.depth -= 1
        return self.made("other", first)

    def object_(self) -> Node:
        self.nest()
        first = self.position
        self.take("{")
        while not self.at("}"):
            if self.at("..."):
                self.take()
                self.assignment()
            else:
                key = self.peek()
                if self.at("["):
                    self.take()
                    self.assignment()
                    self.take("]")
                elif key.kind in ("name", "string", "number"):
                    self.take()
                else:
                    raise SourceError(f"bad object key at {key.start}")
                if self.at(":"):
                    self.take()
                    self.assignment()
                elif key.kind != "name" or key.text in RESERVED:
                    raise SourceError(f"expected ':' at {self.peek().start}")
            if not self.at(","):
                break
            self.take()
        self.close("}")
        self.depth -= 1
        return self.made("other", first)


    def jsx(self) -> Node:
        """A JSX element (`<answer>[f(a=1)]</answer>` is one): skipped over as raw text, then the
        tokens after it are read again."""
        first = self.position
        start = self.peek().start
        end = skip_jsx_element(self.source, start, self.max_depth, _check_jsx_expression)
        rest = tokenize(self.source, "javascript", end)
        self.tokens = self.tokens[: self.position] + [Token("punct", "<jsx>", start, end)] + rest
        self.closing = matching_brackets(self.tokens)
        self.position += 1
        return self.made("other", first)


def _check_jsx_expression(text: str) -> None:
    """The inside of a JSX `{...}`: empty, or one (spread) expression."""
    inner = JsExpressionParser(text, DEFAULT_LIMITS)
    if inner.peek().kind != "end":
        if inner.at("..."):
            inner.take()
        inner.expression()
        if inner.peek().kind != "end":
            raise SourceError("bad JSX expression")
