"""The strict binary reward of the entropy-guided GRPO paper: format right AND calls right.

1.0 when the completion has the required structure and its calls pass the BFCL checker for the
sample's category (irrelevance: no call), else `floor`. The answer is decoded exactly as BFCL
decodes prompting output, with the category's language (Python, Java or JavaScript), so a reward
of 1.0 means the same answer would score in a BFCL evaluation. Never raises on model output.
"""

from __future__ import annotations

from typing import Any

from funcall.bfcl.checker import check
from funcall.bfcl.decode import decode_completion
from funcall.calls.formats import (
    ParsedCompletion,
    parse_completion,
)
from funcall.rewards.base import (
    bfcl_function_docs,
    category_of,
    column,
    completion_text,
)


def structure_ok(parsed: ParsedCompletion, require_think: bool) -> bool:
    return parsed.format_ok and (not require_think or parsed.reasoning is not None)


class AstMatchReward:
    def __init__(self, answer_format: str = "think_answer", require_think: bool = True, floor: float = 0.0, name: str = "ast_match"):
        parse_completion("", answer_format)  # fail fast on an unknown format
        self.answer_format = answer_format
        self.require_think = require_think
        self.floor = floor
        self.__name__ = name

    def score(self, completion: Any, tools: Any, possible_answer: Any, category: Any) -> float:
        parsed = parse_completion(completion_text(completion), self.answer_format)
        if not structure_ok(parsed, self.require_think):
            return self.floor
        category = category_of(category, possible_answer, tools)
        try:
            verdict = check(category, bfcl_function_docs(tools), possible_answer or None, decode_completion(parsed, self.answer_format, category))
        except Exception:  # noqa: BLE001  a malformed sample scores the floor instead of stopping training
            return self.floor
        return 1.0 if verdict.valid else self.floor

    def __call__(self, prompts: list, completions: list, **columns: Any) -> list[float | None]:
        return [
            self.score(completion, column(columns, "tools", i), column(columns, "possible_answer", i), column(columns, "category", i))
            for i, completion in enumerate(completions)
        ]
