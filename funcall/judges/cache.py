"""An on-disk reply cache, so a killed or repeated run never asks the judge the same thing twice.

Replies are stored in SQLite keyed by `ChatRequest.key(model)` (a hash of the model, the messages
and the sampling parameters). Why SQLite rather than an append-only JSONL file: a run over xLAM-60k
with a reasoning judge stores hundreds of thousands of replies of several KB each, which a JSONL
cache would have to hold in memory; SQLite looks each key up on disk. Every reply is committed on
its own in WAL mode, so a process killed at any instant leaves the database valid and holding
every reply it had received up to its last commit (synchronous=NORMAL: safe against a killed
process, not against a power cut, which only costs re-asking the last replies).

Failures (timeouts, HTTP errors) are never cached: a resumed run asks those again. Unreadable
replies are cached like any other: the retry of an unreadable reply is a different request (see
`ChatRequest.retry`), so the resumed run replays the same sequence without asking again.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from funcall.judges.base import ChatRequest, Completion, Judge, JudgeStats

SCHEMA = """CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY, model TEXT NOT NULL, text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, created REAL NOT NULL)"""


class ReplyCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (isolation_level=None): each INSERT is its own transaction.
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)

    def get(self, key: str) -> Completion | None:
        row = self._db.execute("SELECT text, prompt_tokens, completion_tokens FROM replies WHERE key = ?",
                               (key,)).fetchone()
        return None if row is None else Completion(row[0], row[1], row[2], cached=True)

    def put(self, key: str, model: str, completion: Completion) -> None:
        self._db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?, ?)",
                         (key, model, completion.text, completion.prompt_tokens, completion.completion_tokens,
                          time.time()))

    def keys(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT key FROM replies")}

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        self._db.close()


class CachedJudge:
    """A `Judge` that answers from the cache when it can and stores every new reply."""

    def __init__(self, inner: Judge, cache: ReplyCache | None):
        self.inner = inner
        self.cache = cache
        self.model_id = inner.model_id
        self.stats: JudgeStats = inner.stats

    async def complete(self, request: ChatRequest) -> Completion:
        self.stats.requests += 1
        key = request.key(self.model_id)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.stats.cache_hits += 1
                return hit
        completion = await self.inner.complete(request)
        if self.cache is not None:
            self.cache.put(key, self.model_id, completion)
        return completion

    async def aclose(self) -> None:
        await self.inner.aclose()
