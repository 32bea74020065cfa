"""Parse and render BFCL's Python-call syntax (`[f(a=1), mod.g(b='x')]`) without executing anything.

The obvious version is BFCL's own decoder, which walks `ast.parse` output but hands binary
operations and lambdas to `eval`. Here every value is resolved by a small interpreter over the AST:
the value rules are BFCL's (so the checker sees what the official decoder would produce), but
arithmetic is limited to constants and bounded (`2*3`, `-1`, `1e3`, `10**6` work; `9**9**9`, huge
shifts and huge string repetition are refused), and names, calls, attribute access, lambdas and
string formatting inside arithmetic are refused instead of being run. Parsing never raises: it
returns calls or a `ParseFailure` with a short code.

BFCL value rules (kept): literals as Python objects; a unary operator on a numeric literal negates
it (BFCL negates whatever the operator is); lists, dicts and tuples recursively (tuples stay
tuples); a bare name becomes its identifier string; a nested call without keywords becomes its
source text (`ast.unparse`), with keywords a nested `{name: {..}}` dict; `x[i]` becomes its source
text; `...` becomes the string "..."; only keyword arguments are kept (positional ones are dropped).
"""

from __future__ import annotations

import ast
import operator
from typing import Any, ClassVar

from funcall.calls.limits import DEFAULT_LIMITS, Limits, ParseFailure
from funcall.calls.python_plain import plain_call_pairs


class _Refused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- parsing


def parse_expression(text: str, limits: Limits = DEFAULT_LIMITS) -> ast.expr | ParseFailure:
    """`ast.parse(text, mode="eval").body`, bounded in size and nesting depth."""
    if not isinstance(text, str):
        return ParseFailure("syntax", "not a string")
    if len(text) > limits.max_chars:
        return ParseFailure("too_long", f"{len(text)} characters > {limits.max_chars}")
    try:
        body = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError) as error:
        return ParseFailure("syntax", str(error)[:200])
    # Brackets are the only deep nesting a short text can hold (operator chains are caught as
    # RecursionError later), so the exact walk is needed only when there are many of them.
    brackets = text.count("(") + text.count("[") + text.count("{")
    depth = _tree_depth(body) if brackets > limits.max_depth // 2 else 0
    if depth > limits.max_depth:
        return ParseFailure("depth", f"nesting depth {depth} > {limits.max_depth}")
    return body


def _tree_depth(root: ast.AST) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def calls_from_expression(body: ast.expr, limits: Limits = DEFAULT_LIMITS) -> list[dict] | ParseFailure:
    """A single call, or a list/tuple/set whose every element is a call -> canonical calls."""
    pairs = named_calls(body, limits)
    if isinstance(pairs, ParseFailure):
        return pairs
    return [{"name": name, "arguments": arguments} for name, arguments in pairs]


def named_calls(body: ast.expr, limits: Limits = DEFAULT_LIMITS) -> list[tuple[str, dict]] | ParseFailure:
    """calls_from_expression as (name, arguments) pairs."""
    if isinstance(body, ast.Call):
        elements = [body]
    elif isinstance(body, (ast.List, ast.Tuple, ast.Set)):
        elements = body.elts
    else:
        return ParseFailure("not_a_call", f"expected a call or a list of calls, got {type(body).__name__}")
    calls = []
    try:
        for element in elements:
            if not isinstance(element, ast.Call):
                return ParseFailure("not_a_call", f"list element is a {type(element).__name__}, not a call")
            calls.append(_resolve_call(element, limits))
    except _Refused as refused:
        return ParseFailure(refused.code, str(refused))
    except (RecursionError, MemoryError) as error:
        return ParseFailure("depth", type(error).__name__)
    return calls


def parse_python_calls(text: str, limits: Limits = DEFAULT_LIMITS) -> list[dict] | ParseFailure:
    """`"[f(a=1), g(b='x')]"` -> `[{"name": "f", "arguments": {"a": 1}}, ...]`; a bare call is accepted."""
    body = parse_expression(text.strip() if isinstance(text, str) else text, limits)
    if isinstance(body, ParseFailure):
        return body
    return calls_from_expression(body, limits)


def bracketed(text: str) -> str:
    """BFCL's pre-processing of prompting output: strip "`", newlines and spaces from both ends,
    then add a leading `[` / trailing `]` where missing (so `f(a=1)` and a plain ``` fence pass)."""
    text = text.strip("`\n ")
    if not text.startswith("["):
        text = "[" + text
    if not text.endswith("]"):
        text = text + "]"
    return text


def parse_prompting_output(text: str, limits: Limits = DEFAULT_LIMITS) -> list[dict] | ParseFailure:
    """Calls from model text, decoded exactly as BFCL decodes prompting models' Python output:
    `bracketed`, then a call or a list/tuple of calls. Fenced ```python, prose around the calls and
    a quoted list `'[f()]'` are failures there, and so here."""
    pairs = prompting_output_pairs(text, limits)
    if isinstance(pairs, ParseFailure):
        return pairs
    return [{"name": name, "arguments": arguments} for name, arguments in pairs]


def prompting_output_pairs(text: str, limits: Limits = DEFAULT_LIMITS) -> list[tuple[str, dict]] | ParseFailure:
    """parse_prompting_output as (name, arguments) pairs."""
    if not isinstance(text, str):
        return ParseFailure("syntax", "not a string")
    if len(text) > limits.max_chars:
        return ParseFailure("too_long", f"{len(text)} characters > {limits.max_chars}")
    text = bracketed(text).strip().strip("'")
    plain = plain_call_pairs(text)  # same pairs without ast.parse for plain calls (python_plain.py)
    if plain is not None:
        return plain
    body = parse_expression(text, limits)
    if isinstance(body, ParseFailure):
        return body
    return named_calls(body, limits)


def dotted_name(func: ast.expr) -> str:
    """`a.b.c` -> "a.b.c"; parts that are not names or attributes are left out, as BFCL does."""
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


def _resolve_call(call: ast.Call, limits: Limits) -> tuple[str, dict]:
    arguments: dict = {}
    for keyword in call.keywords:  # keyword.arg is None for `**x`; BFCL keeps that as a None key
        arguments[keyword.arg] = _resolve_value(keyword.value, limits)
    return dotted_name(call.func), arguments


def _resolve_value(node: ast.expr, limits: Limits) -> Any:
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp):
        value = getattr(node.operand, "value", None)
        if isinstance(node.operand, ast.Constant) and type(value) in (int, float, complex, bool):
            return -value
        raise _Refused("unsupported", "unary operator on a non-number")
    if isinstance(node, ast.List):
        return [_resolve_value(element, limits) for element in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_resolve_value(element, limits) for element in node.elts)
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise _Refused("unsupported", "** inside a dict")
        try:
            return {_resolve_value(k, limits): _resolve_value(v, limits) for k, v in zip(node.keys, node.values)}
        except TypeError as error:  # unhashable key
            raise _Refused("unsupported", str(error)) from None
    if isinstance(node, ast.BinOp):
        return _Arithmetic(limits).evaluate(node)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        if not node.keywords:
            return ast.unparse(node)
        name, arguments = _resolve_call(node, limits)
        return {name: arguments}
    if isinstance(node, ast.Subscript):
        return f"{ast.unparse(node.value)}[{ast.unparse(node.slice)}]"
    raise _Refused("unsupported", f"unsupported value: {type(node).__name__}")


def literal_value(node: ast.expr, limits: Limits = DEFAULT_LIMITS) -> Any:
    """The value Python's ``eval`` gives a constant expression (numbers, strings, bytes, None,
    booleans, lists, tuples, sets, dicts, unary and binary operators over them), computed without
    ``eval`` and bounded by ``limits``; anything else (a name, a call, an attribute, a subscript)
    is a ParseFailure. Unlike `_resolve_value` (BFCL's decoder, which keeps names and nested calls
    as text), this is what executing the expression would give."""
    try:
        return _Arithmetic(limits).evaluate(node)
    except _Refused as refused:
        return ParseFailure(refused.code, str(refused))
    except (RecursionError, MemoryError) as error:
        return ParseFailure("depth", type(error).__name__)


class _Arithmetic:
    """Evaluates a constant expression (numbers, strings, containers, + - * / // % ** << >> & | ^)
    with bounds on the size of every intermediate result."""

    OPERATORS: ClassVar[dict] = {
        ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
        ast.LShift: operator.lshift, ast.RShift: operator.rshift, ast.BitAnd: operator.and_,
        ast.BitOr: operator.or_, ast.BitXor: operator.xor,
    }
    UNARY: ClassVar[dict] = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert, ast.Not: operator.not_}

    def __init__(self, limits: Limits):
        self.limits = limits

    def evaluate(self, node: ast.expr) -> Any:
        try:
            return self._eval(node)
        except _Refused:
            raise
        except Exception as error:  # noqa: BLE001  ZeroDivisionError, TypeError, OverflowError, ...: BFCL's eval raises too
            raise _Refused("unsupported", f"arithmetic failed: {type(error).__name__}") from None

    def _eval(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.List):
            return [self._eval(e) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self._eval(e) for e in node.elts)
        if isinstance(node, ast.Set):
            return {self._eval(e) for e in node.elts}
        if isinstance(node, ast.Dict) and all(k is not None for k in node.keys):
            return {self._eval(k): self._eval(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.UnaryOp) and type(node.op) in self.UNARY:
            return self._bounded(self.UNARY[type(node.op)](self._eval(node.operand)))
        if isinstance(node, ast.BinOp) and type(node.op) in self.OPERATORS:
            left, right = self._eval(node.left), self._eval(node.right)
            self._check_operands(node.op, left, right)
            return self._bounded(self.OPERATORS[type(node.op)](left, right))
        raise _Refused("unsupported", f"not allowed in arithmetic: {type(node).__name__}")

    def _check_operands(self, op: ast.operator, left: Any, right: Any) -> None:
        limits = self.limits
        sequences = (str, bytes, list, tuple)
        both_int = _is_int(left) and _is_int(right)
        if isinstance(op, ast.Mod) and isinstance(left, (str, bytes)):
            raise _Refused("unsupported", "string formatting")
        if isinstance(op, ast.Pow) and both_int and right > 0 and abs(left) > 1 and right * abs(left).bit_length() > limits.max_int_bits:
            raise _Refused("numeric", "power too large")
        if isinstance(op, ast.LShift) and both_int and (right > limits.max_int_bits or abs(left).bit_length() + right > limits.max_int_bits):
            raise _Refused("numeric", "shift too large")
        if isinstance(op, ast.Mult):
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, sequences) and _is_int(count) and len(sequence) * max(count, 0) > limits.max_sequence_len:
                    raise _Refused("numeric", "repetition too large")
            if both_int and abs(left).bit_length() + abs(right).bit_length() > limits.max_int_bits + 1:
                raise _Refused("numeric", "product too large")
        if isinstance(op, ast.Add) and isinstance(left, sequences) and isinstance(right, sequences) and len(left) + len(right) > limits.max_sequence_len:
            raise _Refused("numeric", "concatenation too large")

    def _bounded(self, value: Any) -> Any:
        if _is_int(value) and abs(value).bit_length() > self.limits.max_int_bits:
            raise _Refused("numeric", "integer too large")
        return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int)  # bool included, as in Python arithmetic


# --------------------------------------------------------------------------- rendering


def render_value(value: Any) -> str:
    """Python literal syntax: repr of str/int/float/bool/None, recursively for list/tuple/dict."""
    if isinstance(value, list):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(render_value(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{render_value(k)}: {render_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def render_call(call: dict) -> str:
    """`{"name": "f", "arguments": {"a": 1}}` -> `f(a=1)`."""
    arguments = ", ".join(f"{key}={render_value(value)}" for key, value in call["arguments"].items())
    return f"{call['name']}({arguments})"


def render_python_calls(calls: list[dict]) -> str:
    """Canonical calls -> `[f(a=1), g(b='x')]` (an empty list renders as `[]`)."""
    return "[" + ", ".join(render_call(call) for call in calls) + "]"
