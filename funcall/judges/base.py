"""What every judge backend shares: the request, the reply, the `Judge` Protocol, errors, counters.

A judge is anything that answers a chat request with text: an OpenAI-compatible server
(`funcall.judges.openai_judge`) or a local Hugging Face model (`funcall.judges.local_judge`).
The Protocol is deliberately one request at a time and async: the data pipeline and the reward
keep many requests in flight, the HTTP backend bounds how many reach the server, and the local
backend gathers the concurrent requests into generation batches by itself. Callers never see
transport details: a backend either returns a `Completion` or raises `JudgeError` (this request
failed after the backend's own retries; the caller counts it and moves on) or `JudgeUnavailable`
(a `ConfigError`: the judge cannot work at all, e.g. a refused key, so the run stops with one line).

Reading the reply (verdict tags, scores) is not the backend's business: see `replies` and `ask`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol, runtime_checkable

from funcall.utils.errors import ConfigError


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions request, minus the model (the backend knows it)."""

    messages: tuple[tuple[str, str], ...]  # (role, content) pairs: hashable, JSON-stable
    max_tokens: int = 1024
    temperature: float = 0.0
    seed: int | None = None

    @classmethod
    def of(cls, messages: list[dict], **params) -> ChatRequest:
        return cls(tuple((m["role"], m["content"]) for m in messages), **params)

    def message_dicts(self) -> list[dict]:
        return [{"role": role, "content": content} for role, content in self.messages]

    def retry(self, attempt: int, temperature: float) -> ChatRequest:
        """The request asked again after an unusable reply: sampled (at least `temperature`) with
        a seed of its own, so it is a different request (to the server and to the cache)."""
        return replace(self, temperature=max(self.temperature, temperature), seed=attempt)

    def key(self, model_id: str) -> str:
        """The cache key: a hash of everything that determines the reply."""
        payload = {"model": model_id, "messages": self.message_dicts(), "max_tokens": self.max_tokens,
                   "temperature": self.temperature, "seed": self.seed}
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False


@dataclass
class JudgeStats:
    """Counters for report.json. `requests` = questions asked of the judge layer; of those,
    `cache_hits` were answered from the cache and `sent` went to the backend, which answered
    `answered` of them (the others are `failures`). `http_retries` counts repeated HTTP attempts,
    `unparseable` replies that could not be read (each asked again, up to the attempt limit).
    Token counts are the backend's, for requests actually answered by it (not cache hits)."""

    requests: int = 0
    cache_hits: int = 0
    sent: int = 0
    answered: int = 0
    failures: int = 0
    http_retries: int = 0
    unparseable: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # failure kind -> count
    retried: dict[str, int] = field(default_factory=dict)  # kind of error that led to a retry -> count

    def failed(self, kind: str) -> None:
        self.failures += 1
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def as_dict(self) -> dict:
        return asdict(self)


class JudgeError(Exception):
    """This one request failed (after retries). `kind`: timeout | http_<status> | connection |
    bad_response | prompt_too_long | ..."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after  # seconds the server asked us to wait (Retry-After), if any


class JudgeUnavailable(ConfigError):
    """The judge cannot answer anything (wrong key, URL or model; server down): stop the run."""


@runtime_checkable
class Judge(Protocol):
    model_id: str  # names the model in cache keys
    stats: JudgeStats

    async def complete(self, request: ChatRequest) -> Completion: ...

    async def aclose(self) -> None: ...
