"""The xLAM-function-calling-60k format, read into our `Example` schema.

An xLAM row is ``{"id", "query", "tools", "answers"}`` where ``tools`` and ``answers`` are JSON
*strings*, and each tool's ``parameters`` maps a name straight to ``{"type", "description",
"default"}`` with informal Python-ish types: ``"str"``, ``"int, optional"``, ``"List[int]"``,
``"Optional[Dict[str, Any]]"``, ``"Tuple[float, float]"``... `informal_type` turns these into
JSON-schema types (unknown ones become ``"any"``, which BFCL's checker treats as a string), and a
parameter is optional when its type says so (``, optional`` / ``Optional[...]``) or it carries a
non-empty default. The data pipeline (`funcall.prepare_data`) validates calls against exactly
this reading.
"""
from __future__ import annotations

import json
import re

from funcall.calls.types import kind as type_kind
from funcall.data.schema import Example, infer_category
from funcall.utils.errors import DataError


def informal_type(text: str) -> tuple[dict, bool]:
    """``"List[int], optional"`` -> ``({"type": "array", "items": {"type": "integer"}}, True)``."""
    t = (text or "any").strip()
    optional = False
    if re.search(r",\s*optional\s*$", t, re.I):
        t, optional = re.sub(r",\s*optional\s*$", "", t, flags=re.I).strip(), True
    m = re.fullmatch(r"(?:typing\.)?Optional\[(.*)\]", t)
    if m:
        t, optional = m.group(1).strip(), True
    m = re.fullmatch(r"(?:typing\.)?Union\[(.*),\s*None\]", t)
    if m:
        t, optional = m.group(1).strip(), True
    m = re.fullmatch(r"(\w+)\s*\[(.*)\]", t)
    head, inner = (m.group(1), m.group(2)) if m else (t, None)
    kind = type_kind(head) or "any"
    kind = "any" if kind == "null" else kind
    schema: dict = {"type": kind}
    if kind == "array" and inner:
        item, _ = informal_type(inner.split(",")[0])
        schema["items"] = item
    return schema, optional


def tool_from_xlam(tool: dict, where: str) -> dict:
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        raise DataError(f"{where}: each tool needs a string 'name'")
    params = tool.get("parameters") or {}
    if not isinstance(params, dict):
        raise DataError(f"{where}: tool '{tool['name']}': 'parameters' must be an object")
    if params.get("type") in ("object", "dict") and "properties" in params:
        return {"name": tool["name"], "description": tool.get("description", ""), "parameters": params}
    properties, required = {}, []
    for pname, spec in params.items():
        spec = spec if isinstance(spec, dict) else {"type": str(spec)}
        schema, optional = informal_type(str(spec.get("type", "any")))
        schema["description"] = spec.get("description", "")
        default = spec.get("default")
        if default not in (None, ""):
            schema["default"] = default
            optional = True
        properties[pname] = schema
        if not optional:
            required.append(pname)
    return {"name": tool["name"], "description": tool.get("description", ""),
            "parameters": {"type": "dict", "properties": properties, "required": required}}


def _json_field(row: dict, name: str, where: str):
    if name not in row:
        raise DataError(f"{where}: missing field '{name}'")
    value = row[name]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: field '{name}' is not valid JSON ({exc.msg})") from None
    if not isinstance(value, list):
        raise DataError(f"{where}: field '{name}' must be a JSON list")
    return value


def xlam_calls(answers: object, where: str, field: str = "answers") -> list[dict]:
    """The calls of an xLAM ``answers`` field, read strictly: a DataError for anything that is not
    a list of ``{"name": str, "arguments": object}`` (``arguments`` may be a JSON object string).
    ``field`` names the field in messages."""
    calls = []
    for i, ans in enumerate(_json_field({field: answers}, field, where)):
        if not isinstance(ans, dict) or not isinstance(ans.get("name"), str):
            raise DataError(f"{where}: {field}[{i}] needs a string 'name'")
        args = ans.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                raise DataError(f"{where}: {field}[{i}].arguments is not valid JSON") from None
        if not isinstance(args, dict):
            raise DataError(f"{where}: {field}[{i}].arguments must be an object, got {type(args).__name__}")
        calls.append({"name": ans["name"], "arguments": args})
    return calls


def example_from_xlam(row: object, where: str, keep_raw_answers: bool = False) -> Example:
    """``keep_raw_answers=False`` (training loaders): a non-object ``arguments`` becomes ``{}``.
    ``keep_raw_answers=True`` (the data pipeline): answers are read strictly (`xlam_calls`); when
    they cannot be, the example has no calls and ``meta`` keeps ``raw_answers`` (the field as
    given) and ``answer_error`` (why), so the pipeline can reject it as an unparseable answer."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object")
    if not isinstance(row.get("query"), str):
        raise DataError(f"{where}: missing field 'query'")
    tools = [tool_from_xlam(t, where) for t in _json_field(row, "tools", where)]
    calls, meta = [], {}
    if keep_raw_answers:
        try:
            calls = xlam_calls(row.get("answers"), where)
        except DataError as exc:
            meta = {"raw_answers": row.get("answers"), "answer_error": str(exc)}
    else:
        for i, ans in enumerate(_json_field(row, "answers", where)):
            if not isinstance(ans, dict) or not isinstance(ans.get("name"), str):
                raise DataError(f"{where}: answers[{i}] needs a string 'name'")
            args = ans.get("arguments", {})
            calls.append({"name": ans["name"], "arguments": args if isinstance(args, dict) else {}})
    return Example(id=str(row.get("id", where)), tools=tools, messages=[{"role": "user", "content": row["query"]}],
                   calls=calls, reasoning=row.get("reasoning"), category=infer_category(len(calls), len(tools)), meta=meta)
