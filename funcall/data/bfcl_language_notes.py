"""The function docs as BFCL shows them to a prompting model: language notes added.

Before BFCL lists the functions in a prompting model's system prompt, it edits a copy of them:
every description gets a sentence naming the language the function is written in (Python 3,
Java 8 SDK or JavaScript), and in the Java and JavaScript categories every parameter is retyped
``string`` with a description saying which Java/JavaScript type it stands for, because the
answer must spell those values as strings (``HashMap``, ``ArrayList``, ``Bigint``...). List item
types and JavaScript dict schemas move into the description. The checker still grades against
the docs as stored, so these edits touch the prompt only. We write the same edits in our own
code; `language_notes` never changes its argument.
"""
from __future__ import annotations

import copy
import json

from funcall.bfcl.checker import language_of

LANGUAGE_NOTE = {
    "python": " Note that the provided function is in Python 3 syntax.",
    "java": " Note that the provided function is in Java 8 SDK syntax.",
    "javascript": " Note that the provided function is in JavaScript syntax.",
}
LANGUAGE_NAME = {"java": "Java", "javascript": "JavaScript"}
LIST_TYPES = {"java": ("ArrayList", "Array"), "javascript": ("array",)}


def language_notes(functions: list[dict], category: str) -> list[dict]:
    """A copy of ``functions`` with BFCL's prompting notes for ``category``'s language."""
    language = language_of(category)
    out = copy.deepcopy(functions)
    for function in out:
        if not isinstance(function, dict):
            continue
        function["description"] = str(function.get("description") or "") + LANGUAGE_NOTE[language]
        if language == "python":
            continue
        properties = (function.get("parameters") or {}).get("properties") or {}
        for spec in properties.values():
            if isinstance(spec, dict):
                _as_string(spec, language)
    return out


def _as_string(spec: dict, language: str) -> None:
    """Retype one Java/JavaScript parameter as a string, saying in its description what it is."""
    name, kind = LANGUAGE_NAME[language], spec.get("type")
    note = (f" This parameter can be of any type of {name} object in string representation." if kind == "any"
            else f" This is {name} {kind} type parameter in string representation.")
    if kind in LIST_TYPES[language] and isinstance(spec.get("items"), dict):
        note += f" The list elements are of type {spec['items'].get('type')}; they are not in string representation."
        del spec["items"]
    if language == "javascript" and kind == "dict" and "properties" in spec:
        note += (" The dictionary entries have the following schema; they are not in string representation. "
                 + json.dumps(spec["properties"]))
        del spec["properties"]
    spec["description"] = str(spec.get("description") or "") + note
    spec["type"] = "string"
