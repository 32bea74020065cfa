"""What flows through the data pipeline: a `Sample` (an example on its way) or a `Rejection`.

A `Sample` wraps our `Example` with what the pipeline learns about it: whether the reference answer
could be read at all (`answer_error`, with the answer as given in `raw_answer`, which the judge is
shown and may rewrite), where its reasoning came from, how many times the judge regenerated its
calls, and notes for report.json. A `Rejection` is the end of a sample: the stage that dropped it,
a reason code (counted in report.json) and a detail line for a human.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from funcall.data.schema import Example


@dataclass
class Sample:
    index: int  # position in the input (outputs keep input order)
    where: str  # file:line, for messages
    example: Example
    answer_error: str | None = None  # why the reference answer does not parse; None when it does
    raw_answer: str | None = None  # the answer as given, when it does not parse
    reasoning_source: str | None = None  # input | teacher (None: no reasoning)
    regenerated: int = 0  # times the judge replaced the calls (checks 4-5)
    notes: list[str] = field(default_factory=list)  # "<stage>:<note>", tallied in report.json

    @property
    def id(self) -> str:
        return self.example.id

    def output_row(self) -> dict:
        row = self.example.to_row()
        row["meta"] = {**row.get("meta", {}), "prepare": {"reasoning": self.reasoning_source,
                                                          "regenerated": self.regenerated}}
        return row


@dataclass(frozen=True)
class Rejection:
    index: int
    id: str
    stage: str  # input | llm | ast (a repeated stage is llm_2, ...)
    reason: str  # a short code, counted in report.json
    detail: str = ""
    notes: tuple[str, ...] = ()  # the sample's notes up to here (report.json counts them too)

    def row(self) -> dict:
        return {"id": self.id, "stage": self.stage, "reason": self.reason, "detail": self.detail}
