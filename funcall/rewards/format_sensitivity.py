"""``reward=format_sensitivity``: 1 iff the answer is right in its own example's configuration, else 0.

The reward of ``data=bfcl_format_sensitivity`` (`funcall.data.format_sensitivity_source`), and the
rule its held-out evaluation grades by. Each row's configuration (return format, ``<TOOLCALL>`` tag)
arrives in the ``meta`` column (the example's ``meta``, which the single-turn loop passes on); the
completion is decoded as ``eval=bfcl_format_sensitivity`` decodes it
(`funcall.data.bfcl_format_decode.decode_answer`, never ``eval``) and graded by the AST checker for
the row's category, as that eval grades it. So the same calls written in another configuration's
format score 0: the task is to answer in the format asked for.

``check_calls: false`` makes it a format reward: 1 iff the completion decodes to at least one call in
its configuration, whatever the calls (the held-out ``eval/format_ok``). An empty list does not
count: bfcl-eval's JSON decoder reads undecodable text as no call, so ``[]`` is no evidence of the
format (and no format-sensitivity entry expects no call). A row whose ``meta`` names no
configuration stops the run with one line: this reward reads nothing else.
"""
from __future__ import annotations

from typing import Any

from funcall.bfcl.checker import check
from funcall.calls.limits import ParseFailure
from funcall.data.bfcl_format_decode import decode_answer
from funcall.data.bfcl_formats import parse_config
from funcall.data.format_sensitivity_source import config_of
from funcall.rewards.base import column, completion_text


class FormatSensitivityReward:
    def __init__(self, check_calls: bool = True, floor: float = 0.0, name: str = "format_sensitivity"):
        self.check_calls, self.floor, self.__name__ = bool(check_calls), float(floor), name

    def score(self, completion: Any, meta: Any, tools: Any, possible_answer: Any, category: Any) -> float:
        ret, tag, *_ = parse_config(config_of(meta))
        decoded = decode_answer(completion_text(completion), ret, tag)
        if isinstance(decoded, ParseFailure) or not isinstance(decoded, list):
            return self.floor
        if not self.check_calls:
            return 1.0 if decoded else self.floor
        try:
            verdict = check(category, tools, possible_answer or None, decoded)
        except Exception:  # noqa: BLE001 - one odd answer scores the floor instead of stopping training
            return self.floor
        return 1.0 if verdict.valid else self.floor

    def __call__(self, prompts: list, completions: list, **columns: Any) -> list[float | None]:
        return [self.score(completion, column(columns, "meta", i), column(columns, "tools", i),
                           column(columns, "possible_answer", i), column(columns, "category", i))
                for i, completion in enumerate(completions)]
