"""Type names of tool parameters: one table for every spelling funcall meets.

Tool schemas arrive with JSON-schema names (``string``, ``number``, ``object``), BFCL's names
(``float``, ``dict``, ``tuple``, ``any``) or xLAM's Python-ish ones (``str``, ``List[int]``,
``double``). `KINDS` maps each spelling to one kind (JSON schema's names, except that objects are
``dict`` and ``tuple``/``any``/``null`` are kept, as BFCL and the AST validation need them); the
renderings each consumer needs are derived from it. A name outside the table (a Java or JavaScript
type in BFCL's other categories, ``String``, ``HashMap``) is passed through as it is.
"""
from __future__ import annotations

KINDS = {
    "string": "string", "str": "string",
    "integer": "integer", "int": "integer",
    "number": "number", "float": "number", "double": "number",
    "boolean": "boolean", "bool": "boolean",
    "array": "array", "list": "array", "set": "array",
    "tuple": "tuple",
    "dict": "dict", "object": "dict",
    "any": "any",
    "null": "null", "none": "null",
}
_BFCL = {"number": "float"}  # BFCL's checker names the kinds as here, but for floats
# names BFCL's checker already reads in one of its languages: never renamed (Java's double stays double)
BFCL_NAMES = frozenset(("string", "integer", "float", "boolean", "array", "tuple", "dict", "any", "double", "long",
                        "byte", "short", "char"))
_SHORT = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "array": "list", "dict": "dict",
          "tuple": "tuple", "any": "any", "null": "None"}


def kind(name: str | None) -> str | None:
    """The kind of a spelling (case-insensitive); None for a name outside the table."""
    return KINDS.get(str(name).strip().lower()) if name is not None else "any"


def bfcl_type(name: str) -> str:
    """The name BFCL's checker expects (``number`` -> ``float``, ``object`` -> ``dict``, ``str`` ->
    ``string``); names BFCL reads already (`BFCL_NAMES`) or outside the table unchanged."""
    if not isinstance(name, str) or name in BFCL_NAMES:
        return name
    k = KINDS.get(name)
    return name if k is None else _BFCL.get(k, k)


def short_name(name: str) -> str:
    """The short Python-ish name the compact tool listing shows (``integer`` -> ``int``); names
    outside the table unchanged."""
    k = KINDS.get(name) if isinstance(name, str) else None
    return str(name) if k is None else _SHORT[k]
