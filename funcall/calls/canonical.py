"""The canonical call: a plain JSON-friendly dict `{"name": str, "arguments": dict}`.

Datasets, rewards and renderers pass calls around in this form. BFCL's checker wants
`[{name: {arg: value}}]` instead; `to_bfcl` / `from_bfcl` convert between the two without
merging calls that share a name (a parallel answer may call the same function twice).
"""

from __future__ import annotations


def to_bfcl(calls: list[dict]) -> list[dict]:
    """`[{"name": "f", "arguments": {"a": 1}}]` -> `[{"f": {"a": 1}}]`."""
    return [{call["name"]: call["arguments"]} for call in calls]


def from_bfcl(decoded: list[dict]) -> list[dict]:
    """`[{"f": {"a": 1}}]` -> `[{"name": "f", "arguments": {"a": 1}}]` (one call per one-key dict)."""
    calls = []
    for item in decoded:
        if not isinstance(item, dict) or len(item) != 1:
            raise ValueError(f"not a one-key call dict: {item!r}")
        (name, arguments), = item.items()
        calls.append({"name": name, "arguments": arguments})
    return calls

