"""Ask a judge a question until its reply can be read, or give up and say why: never raise.

`ask` sends the request, reads the reply with the given parser, and on an unreadable reply asks
again, up to `attempts` times in all. A retry is sampled (`retry_temperature`) with its own seed
(`ChatRequest.retry`): asking a greedy judge the identical question again would return the
identical unreadable reply (from the server, and from our cache). A request that fails in the
backend (timeout, HTTP error, after the backend's own retries) ends the question at once: the
backend has already retried it. The result is an `Answer` whose `error` is one of
`judge_unparseable` / `judge_error`, with a detail line for rejected.jsonl.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from funcall.judges.base import ChatRequest, Judge, JudgeError
from funcall.judges.replies import Unreadable


@dataclass(frozen=True)
class Answer:
    value: Any = None
    error: str | None = None  # judge_unparseable | judge_error
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


async def ask(judge: Judge, request: ChatRequest, parse: Callable[[str], Any], attempts: int = 3,
              retry_temperature: float = 0.7) -> Answer:
    last_reason, last_text = "", ""
    for attempt in range(max(1, attempts)):
        current = request if attempt == 0 else request.retry(attempt, retry_temperature)
        try:
            completion = await judge.complete(current)
        except JudgeError as exc:
            return Answer(error="judge_error", detail=f"{exc.kind}: {exc}")
        value = parse(completion.text)
        if not isinstance(value, Unreadable):
            return Answer(value)
        judge.stats.unparseable += 1
        last_reason, last_text = value.reason, completion.text
    snippet = " ".join(last_text.split())[:120]
    return Answer(error="judge_unparseable", detail=f"{last_reason} after {attempts} replies; last: {snippet!r}")
