"""The one example schema every loader produces and every trainer, reward and evaluator reads.

An `Example` is a function-calling task: the tools (JSON-schema function docs, as BFCL and the
OpenAI API write them), the conversation up to the user's turn, and the target: a reasoning text
and the calls (plain dicts ``{"name": str, "arguments": dict}``; an empty list means "call
nothing"). It also carries what the BFCL checker needs to grade a model's answer: the category
(a BFCL category name, which selects the checking rule) and ``possible_answer`` (BFCL's ground
truth ``[{name: {param: [acceptable values]}}]``). Loaders that only know one right answer leave
``possible_answer`` empty and `possible_answer_from_calls` derives it: each given argument must
equal its value, an omitted optional argument may be left out or given its default.

Rows round-trip through JSON (`to_row` / `from_row`), which is also the on-disk JSONL format of
``data=jsonl``; `from_row` raises a `DataError` naming the missing or mistyped field.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from funcall.utils.errors import DataError

# BFCL category names; our synthetic task uses the first five.
CATEGORIES = (
    "simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance",
    "simple_java", "simple_javascript", "live_simple", "live_multiple", "live_parallel",
    "live_parallel_multiple", "live_irrelevance",
)



def infer_category(n_calls: int, n_tools: int) -> str:
    """The BFCL category of an example by its shape, as BFCL files its own entries: no call ->
    irrelevance; one call -> simple_python with one tool offered, else multiple; several calls ->
    parallel with one tool offered, else parallel_multiple."""
    if n_calls == 0:
        return "irrelevance"
    if n_calls == 1:
        return "simple_python" if n_tools <= 1 else "multiple"
    return "parallel" if n_tools <= 1 else "parallel_multiple"

@dataclass
class Example:
    id: str
    tools: list[dict]
    messages: list[dict]
    calls: list[dict]
    reasoning: str | None = None
    category: str = "simple_python"
    possible_answer: list[dict] | None = None
    meta: dict = field(default_factory=dict)

    @property
    def no_call(self) -> bool:
        return not self.calls

    def ground_truth(self) -> list[dict] | None:
        """BFCL ground truth for the checker (None for irrelevance: nothing may be called)."""
        if "irrelevance" in self.category:
            return None
        if self.possible_answer:
            return self.possible_answer
        return possible_answer_from_calls(self.calls, self.tools)

    def to_row(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: Any, where: str = "row") -> Example:
        """Validate a JSON row; ``where`` (e.g. ``"data.jsonl:12"``) prefixes error messages."""
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
        for name, kind in (("tools", list), ("messages", list), ("calls", list)):
            if name not in row:
                raise DataError(f"{where}: missing field '{name}'")
            if not isinstance(row[name], kind):
                raise DataError(f"{where}: field '{name}' must be a {kind.__name__}")
        for i, tool in enumerate(row["tools"]):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                raise DataError(f"{where}: tools[{i}] must be an object with a string 'name'")
        for i, msg in enumerate(row["messages"]):
            if not isinstance(msg, dict) or "role" not in msg or "content" not in msg:
                raise DataError(f"{where}: messages[{i}] must have 'role' and 'content'")
        for i, call in enumerate(row["calls"]):
            if not (isinstance(call, dict) and isinstance(call.get("name"), str)
                    and isinstance(call.get("arguments", {}), dict)):
                raise DataError(f"{where}: calls[{i}] must be {{'name': str, 'arguments': object}}")
        reasoning = row.get("reasoning")
        if reasoning is not None and not isinstance(reasoning, str):
            raise DataError(f"{where}: field 'reasoning' must be a string or null")
        category = row.get("category") or infer_category(len(row["calls"]), len(row["tools"]))
        if category not in CATEGORIES:
            raise DataError(f"{where}: unknown category '{category}' (one of {', '.join(CATEGORIES)})")
        return cls(
            id=str(row.get("id", where)),
            tools=row["tools"],
            messages=row["messages"],
            calls=[{"name": c["name"], "arguments": c.get("arguments", {})} for c in row["calls"]],
            reasoning=reasoning,
            category=category,
            possible_answer=row.get("possible_answer"),
            meta=row.get("meta") or {},
        )


_NO_DEFAULT = object()


def possible_answer_from_calls(calls: list[dict], tools: list[dict]) -> list[dict]:
    """BFCL ground truth accepting exactly these calls.

    Given arguments must match their value; a declared optional parameter the call leaves out may
    be omitted (``""``) or set to its documented default. BFCL rejects any parameter absent from
    the ground truth, so undeclared extras stay forbidden.
    """
    docs = {t["name"]: t for t in tools}
    answer = []
    for call in calls:
        params = (docs.get(call["name"], {}).get("parameters") or {}).get("properties", {})
        options: dict[str, list] = {}
        for pname, value in call["arguments"].items():
            default = params.get(pname, {}).get("default", _NO_DEFAULT)
            # Giving the default explicitly or leaving it out means the same call.
            options[pname] = [value, ""] if value == default else [value]
        for pname, spec in params.items():
            if pname not in options:
                options[pname] = [""] + ([spec["default"]] if "default" in spec else [])
        answer.append({call["name"]: options})
    return answer


def dumps(example: Example) -> str:
    return json.dumps(example.to_row(), ensure_ascii=False)
