"""Answers to bfcl-eval's format-sensitivity prompts decoded as bfcl-eval decodes them, without ``eval``.

`decode_answer(text, return_format, tool_call_tag)` is bfcl-eval's ``default_decode_ast_prompting``
for the four return formats of `funcall.data.bfcl_formats` (python calls, JSON, verbose and concise
XML, with or without the ``<TOOLCALL>`` tag): what its AST checker receives, calls or a
`ParseFailure` where bfcl-eval's decoder raises. One implementation for the evaluation
(`funcall.eval.bfcl_format_sensitivity`) and the reward (`funcall.rewards.format_sensitivity`).

Departures from bfcl-eval: nothing is ``eval``ed. bfcl-eval's XML and JSON decoders call
``ast.literal_eval`` on model text and ``ElementTree`` on it; here Python values go through the
bounded parser (`funcall.calls.python_syntax.parse_expression`) before ``literal_eval`` sees the
tree, XML with a ``<!`` (DOCTYPE, entities) is refused, and every input is capped in length. A
closed ``<think>`` block before the answer is dropped, as bfcl-eval's reasoning-model handlers do.
"""
from __future__ import annotations

import ast
import re
from typing import Any

from funcall.bfcl.decode import decode_python
from funcall.calls.json_calls import load_json
from funcall.calls.limits import DEFAULT_LIMITS, Limits, ParseFailure
from funcall.calls.python_syntax import bracketed, named_calls, parse_expression

TOOL_CALL_TAG = re.compile(r"<TOOLCALL>(.*?)</TOOLCALL>", re.DOTALL)
FUNCTIONS_XML = re.compile(r"<functions>(.*?)</functions>", re.DOTALL)
JSON_LIST = re.compile(r"\[.*\]", re.DOTALL)
JSON_CALLS = re.compile(r"\[\s*{.*?}\s*(?:,\s*{.*?}\s*)*\]", re.DOTALL)


def _literal(text: str, limits: Limits) -> Any:
    """``ast.literal_eval(text)`` on a tree the bounded parser built first (never on raw text)."""
    body = parse_expression(text.lstrip(" \t"), limits)
    if isinstance(body, ParseFailure):
        raise ValueError(body.message or body.code)
    return ast.literal_eval(body)


def _xml_value(raw: str, kind: str, limits: Limits) -> Any:
    if kind == "integer":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "boolean":
        return raw.lower() == "true"
    if kind == "null":
        return None
    if kind in ("array", "tuple", "object", "dict"):
        return _literal(raw, limits)
    return raw  # string, and any other type: the text as it is


def _xml_calls(text: str, verbose: bool, limits: Limits) -> list[dict]:
    import xml.etree.ElementTree as ET

    match = FUNCTIONS_XML.search(text)
    if not match:
        raise ValueError("no <functions> element")
    if "<!" in match.group(0):
        raise ValueError("XML declarations (DOCTYPE, ENTITY) are refused")
    calls = []
    for func in ET.fromstring(match.group(0)).findall("function"):
        container = func.find("params") if verbose else None
        params = {}
        for param in (container if container is not None else func).findall("param"):
            if verbose:
                raw, name = param.attrib.get("value", ""), param.attrib.get("name")
            else:
                raw, name = (param.text or "").strip(), param.attrib["name"]
            params[name] = _xml_value(raw, param.attrib.get("type", "string"), limits)
        calls.append({func.attrib["name"]: params})
    return calls


def _json_calls(text: str, limits: Limits) -> list[dict]:
    match = JSON_LIST.search(text)
    text = match.group(0) if match else text
    match = JSON_CALLS.search(text)
    value = load_json(match.group(0) if match else text, limits)
    if isinstance(value, ParseFailure):
        if value.code != "json":
            raise ValueError(value.message)
        return []  # bfcl-eval: undecodable JSON is an empty call list
    if not isinstance(value, (list, str, dict)):
        raise TypeError(f"{type(value).__name__} is not iterable")
    return [{item["function"]: item["parameters"]} for item in value if isinstance(item, dict)]


def decode_answer(text: str, return_format: str, tool_call_tag: bool, limits: Limits = DEFAULT_LIMITS) -> Any:
    """What bfcl-eval's checker receives for ``text`` under a configuration: calls, or a
    ParseFailure where bfcl-eval's decoder raises (its ``ast_decoder:decoder_failed``)."""
    if not isinstance(text, str) or len(text) > limits.max_chars:
        return ParseFailure("too_long", "answer longer than the parser's limit")
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    if return_format == "python" and not tool_call_tag:
        return decode_python(text, limits)
    text = bracketed(text)
    if tool_call_tag:
        match = TOOL_CALL_TAG.search(text)
        if not match:
            return ParseFailure("syntax", "no <TOOLCALL> tag")
        text = match.group(1).strip()
    try:
        if return_format == "python":
            body = parse_expression(text.strip().strip("'"), limits)
            pairs = body if isinstance(body, ParseFailure) else named_calls(body, limits)
            return pairs if isinstance(pairs, ParseFailure) else [{name: args} for name, args in pairs]
        if return_format == "json":
            return _json_calls(text, limits)
        return _xml_calls(text, return_format == "verbose_xml", limits)
    except (ValueError, TypeError, KeyError, SyntaxError, AttributeError, RecursionError, MemoryError) as error:
        return ParseFailure("syntax", f"{type(error).__name__}: {str(error)[:200]}")


