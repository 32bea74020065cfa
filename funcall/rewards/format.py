"""Format reward: 1.0 when the completion has the required structure and its answer parses as a
call list (an empty list included), else 0.0. Correctness is not looked at."""

from __future__ import annotations

from typing import Any

from funcall.calls.formats import parse_completion
from funcall.rewards.ast_match import structure_ok
from funcall.rewards.base import completion_text


class FormatReward:
    def __init__(self, answer_format: str = "think_answer", require_think: bool = True, name: str = "format"):
        parse_completion("", answer_format)  # fail fast on an unknown format
        self.answer_format = answer_format
        self.require_think = require_think
        self.__name__ = name

    def score(self, completion: Any) -> float:
        parsed = parse_completion(completion_text(completion), self.answer_format)
        return 1.0 if structure_ok(parsed, self.require_think) and parsed.calls is not None else 0.0

    def __call__(self, prompts: list, completions: list, **columns: Any) -> list[float | None]:
        return [self.score(completion) for completion in completions]
