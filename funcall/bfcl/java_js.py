"""Java and JavaScript argument conversion for the BFCL checker: source text -> Python value.

BFCL decodes Java/JS calls into argument *source strings* and converts each one according to the
declared native type just before checking. The obvious version would parse the literal properly;
BFCL uses anchored regular expressions, and a value that does not match stays a string (which can
then still pass as a "variable"). This module reproduces those conversions, including their
surprises: a Java `float` needs an `f` suffix and a `long` an `L`; `char` never converts; elements of
a Java `String[]` keep their quotes while `ArrayList` elements lose them; a JS `float` accepts `3`;
JS object values have their quotes stripped before being read as numbers (`'5'` -> 5); a JS array
whose item type is unknown falls back to the text. No `eval`: numbers go through int()/float().
"""

from __future__ import annotations

import re
from typing import Any

JAVA_TYPES: dict[str, type] = {
    "byte": int, "short": int, "integer": int, "float": float, "double": float, "long": int,
    "boolean": bool, "char": str, "Array": list, "ArrayList": list, "Set": set, "HashMap": dict,
    "Hashtable": dict, "Queue": list, "Stack": list, "String": str, "any": str,
}
JS_TYPES: dict[str, type] = {
    "String": str, "integer": int, "float": float, "Bigint": int, "Boolean": bool, "dict": dict,
    "array": list, "any": str,
}

INTEGER = r"^-?\d+$"
JAVA_FLOAT = r"^-?\d+(\.\d+)?([eE][+-]?\d+)?[fF]$"
JAVA_DOUBLE = r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$"
JAVA_LONG = r"^-?\d+[lL]$"


# --------------------------------------------------------------------------- Java


def convert_java(text: str, declared: str, item_type: str | None = None) -> Any:
    if declared not in JAVA_TYPES:
        raise ValueError(f"unsupported Java type {declared!r}")
    if declared in ("byte", "short", "integer"):
        return int(text) if re.match(INTEGER, text) else text
    if declared == "float":
        return float(re.sub(r"[fF]$", "", text)) if re.match(JAVA_FLOAT, text) else text
    if declared == "double":
        return float(text) if re.match(JAVA_DOUBLE, text) else text
    if declared == "long":
        return int(re.sub(r"[lL]$", "", text)) if re.match(JAVA_LONG, text) else text
    if declared == "boolean":
        return text == "true" if text in ("true", "false") else text
    if declared == "ArrayList":
        return _java_arraylist(text, item_type)
    if declared == "Array":
        return _java_array(text, item_type)
    if declared == "HashMap":
        return _java_hashmap(text)
    if declared in ("Set", "Hashtable", "Queue", "Stack"):
        raise NotImplementedError(f"BFCL does not convert Java {declared}")
    return text  # String, any, and char (BFCL's char pattern can never match)


def _java_element(text: str, item_type: str | None) -> Any:
    if item_type in ("char", "String"):
        return text[1:-1]  # quotes dropped without looking
    return convert_java(text, item_type) if item_type else java_value(text)


def _java_arraylist(text: str, item_type: str | None) -> Any:
    as_list = re.search(r"new\s+ArrayList<\w*>\(Arrays\.asList\((.+?)\)\)", text)
    if as_list:
        return [_java_element(part.strip(), item_type) for part in as_list.group(1).split(",")]
    with_adds = re.search(r"new\s+ArrayList<\w*>\(\)\s*\{\{\s*(.+?)\s*\}\}", text, re.DOTALL)
    if with_adds:
        return [_java_element(added.strip(), item_type) for added in re.findall(r"add\((.+?)\)", with_adds.group(1))]
    if re.search(r"new\s+ArrayList<\w*>\(\)", text):
        return []
    return text


def _java_array(text: str, item_type: str | None) -> Any:
    match = re.search(r"new\s+\w+\[\]\s*\{(.*?)\}", text)
    if not match:
        return text
    parts = [part.strip() for part in match.group(1).split(",") if part.strip()]
    return [convert_java(part, item_type) if item_type else java_value(part) for part in parts]


def _java_hashmap(text: str) -> Any:
    body = re.search(r"new\s+HashMap<.*?>\s*\(\)\s*\{\s*\{?\s*(.*?)\s*\}?\s*\}", text, re.DOTALL)
    if body:
        puts = body.group(1)
        if not puts.strip():
            return {}
        return {key: java_value(value.strip()) for key, value in re.findall(r"put\(\"(.*?)\",\s*(.*?)\)", puts)}
    if re.search(r"new\s+HashMap<.*?>\s*\(\)", text):
        return {}
    return text


def java_value(text: str) -> Any:
    """A Java literal read without a declared type (collection elements, map values)."""
    if text in ("true", "false"):
        return text == "true"
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    if re.match(JAVA_LONG, text):
        return int(text[:-1])
    if re.match(JAVA_FLOAT, text):
        return float(re.sub(r"[fF]$", "", text))
    return _number_or_text(text)


def _number_or_text(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


# --------------------------------------------------------------------------- JavaScript


def convert_js(text: str, declared: str, item_type: str | None = None) -> Any:
    if declared not in JS_TYPES:
        raise ValueError(f"unsupported JavaScript type {declared!r}")
    if declared == "String":
        return text[1:-1] if _quoted(text) else text
    if declared == "integer":
        return int(text) if re.match(INTEGER, text) else text
    if declared == "float":
        return float(text) if re.match(r"^-?\d+(\.\d+)?$", text) else text
    if declared == "Bigint":
        return int(text[:-1]) if re.match(r"^-?\d+n$", text) else text
    if declared == "Boolean":
        return text == "true" if text in ("true", "false") else text
    if declared == "dict":
        return _js_object(text.strip())
    if declared == "array":
        try:
            return _js_array(text.strip(), item_type)
        except Exception:  # noqa: BLE001  BFCL falls back to the text on any failure here
            return text.strip()
    return text  # any


def _quoted(text: str) -> bool:
    return (text.startswith('"') and text.endswith('"')) or (text.startswith("'") and text.endswith("'"))


def _split_items(inner: str | None) -> list[str]:
    inner = (inner or "").strip()
    return inner.split(",") if inner else []


def _js_array(code: str, item_type: str | None) -> Any:
    two_d = re.match(r"\[\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\]|\bnew\s+Array\(\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\)", code)
    if two_d:
        rows = []
        for index, row in enumerate(re.findall(r"\[(.*?)\]", two_d.group(0))):
            row = row.strip()
            if index == 0 and row.startswith("["):
                row = row[1:]
            rows.append([js_value(item.strip()) for item in row.split(",")])
        return rows
    one_d = re.match(r"\[(.*?)\]|\bnew\s+Array\((.*?)\)", code)
    if not one_d:
        return code
    items = _split_items(one_d.group(1)) if one_d.group(1) is not None else _split_items(one_d.group(2))
    if item_type:
        return [convert_js(item.strip(), item_type) for item in items]
    return [js_value(item.strip()) for item in items]


def _js_object(code: str) -> Any:
    if code == "{}":
        return {}
    match = re.match(r"\{(.*?)\}", code)
    if not match:
        return code
    try:
        result = {}
        for key, value in re.findall(r"([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|$)", match.group(1)):
            key, value = key.strip().strip("'\""), value.strip()
            if value.startswith("[") and value.endswith("]"):
                result[key] = _js_array_or_text(value)
            elif value.startswith("{") and value.endswith("}"):
                result[key] = _js_object(value)
            else:
                result[key] = js_value(value.strip("'\""))
        return result
    except Exception:  # noqa: BLE001  BFCL falls back to the text
        return code


def _js_array_or_text(code: str) -> Any:
    try:
        return _js_array(code.strip(), None)
    except Exception:  # noqa: BLE001
        return code.strip()


def js_value(text: str) -> Any:
    """A JavaScript literal read without a declared type."""
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    if _quoted(text):
        return text[1:-1]
    return _number_or_text(text)
