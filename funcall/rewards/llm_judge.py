"""LLM-judge reward: a judge model scores each completion from 0 to 1 (`<score>x</score>`).

The judge sees the tools, the request, the reference calls (the `possible_answer` column: each
argument's acceptable values) and the completion, and grades the calls for what they do rather
than for exact equality, which is what the strict `ast_match` reward cannot do: e.g. a value
written differently but meaning the same. Combine the two by weight with `reward=mix` (see
`conf/reward/llm_judge.yaml`).

The trainer calls rewards synchronously; the judge is async. All completions of a call are
scored concurrently on a background event loop (`funcall.judges.background`), identical requests
once (a GRPO group often repeats a completion), with at most `judge.concurrency` requests in
flight, and the whole call bounded by `timeout_s`: scores not back by then, like scores the
judge failed to give (HTTP errors after retries, unreadable replies after `attempts`), are
`on_failure`, None by default, TRL's "does not apply", so `MixReward` lets the other rewards carry
that sample and the RL trainer counts it in `reward/none_frac`. A judge that cannot work at all
(refused key, unknown model, down for `max_consecutive_failures` requests) stops training with
one line instead of silently zeroing every reward.
"""
from __future__ import annotations

import asyncio
from typing import Any

from funcall.judges.ask import ask
from funcall.judges.background import BackgroundLoop
from funcall.judges.base import ChatRequest, Judge
from funcall.judges.cache import CachedJudge, ReplyCache
from funcall.judges.prompts import conversation_block, score_messages
from funcall.judges.replies import parse_score
from funcall.rewards.base import column, completion_text


def request_text(prompt: Any) -> str:
    """The request the completion answers: a conversation's non-system turns, or the prompt text."""
    if isinstance(prompt, list):
        return conversation_block([m for m in prompt if isinstance(m, dict) and m.get("role") != "system"])
    return str(prompt) if prompt is not None else ""


class LLMJudgeReward:
    def __init__(self, judge: Judge, attempts: int = 2, retry_temperature: float = 0.7, max_tokens: int = 512,
                 temperature: float = 0.0, timeout_s: float = 300.0, on_failure: float | None = None,
                 cache_path: str | None = None, max_completion_chars: int = 8000, name: str = "llm_judge"):
        self.judge = CachedJudge(judge, ReplyCache(cache_path) if cache_path else None)
        self.attempts = int(attempts)
        self.retry_temperature = float(retry_temperature)
        self.max_tokens = int(max_tokens)
        self.temperature = float(temperature)
        self.timeout_s = float(timeout_s)
        self.on_failure = None if on_failure is None else float(on_failure)
        self.max_completion_chars = int(max_completion_chars)
        self.__name__ = name
        self.last_failures = 0  # completions of the latest call the judge could not score
        self._loop = BackgroundLoop(f"{name}-loop")

    def request(self, prompt: Any, completion: Any, tools: Any, possible_answer: Any) -> ChatRequest:
        text = completion_text(completion)[: self.max_completion_chars]
        reference = possible_answer if possible_answer else "no call: the right reply calls no function"
        messages = score_messages(tools or [], request_text(prompt), reference, text)
        return ChatRequest.of(messages, max_tokens=self.max_tokens, temperature=self.temperature)

    async def _score_all(self, requests: list[ChatRequest]) -> list[float | None]:
        unique: dict[str, ChatRequest] = {}
        for request in requests:
            unique.setdefault(request.key(self.judge.model_id), request)
        tasks = {key: asyncio.ensure_future(ask(self.judge, request, parse_score, self.attempts, self.retry_temperature))
                 for key, request in unique.items()}
        done, pending = await asyncio.wait(tasks.values(), timeout=self.timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        scores: dict[str, float | None] = {}
        for key, task in tasks.items():
            if task in done:
                answer = task.result()  # re-raises JudgeUnavailable: the judge cannot work at all
                scores[key] = answer.value if answer.ok else None
            else:
                scores[key] = None
        return [scores[request.key(self.judge.model_id)] for request in requests]

    def __call__(self, prompts: list, completions: list, **columns: Any) -> list[float | None]:
        requests = [self.request(prompts[i] if i < len(prompts) else None, completion,
                                 column(columns, "tools", i), column(columns, "possible_answer", i))
                    for i, completion in enumerate(completions)]
        if not requests:
            return []
        scores = self._loop.run(self._score_all(requests), timeout=self.timeout_s + 30.0)
        self.last_failures = sum(score is None for score in scores)
        return [self.on_failure if score is None else score for score in scores]
