"""A judge behind any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, hosted APIs).

Built on the `openai` SDK's `AsyncOpenAI` (a declared dependency; it handles auth headers, URL
joining and error typing) with the SDK's own retries turned off (`max_retries=0`) and one retry
loop of ours instead, because the pipeline needs what the SDK's loop hides: every attempt
counted for report.json, a single bounded budget shared by timeouts, HTTP 429/5xx and malformed
bodies, exponential backoff with jitter that honours `Retry-After`, and a hard wall-clock
timeout per attempt (`asyncio.wait_for`, so a server trickling bytes cannot hold a slot forever).
At most `concurrency` requests are in flight at once (a semaphore), whatever the caller sends.

Errors are sorted by who can fix them. A refused key (401/403) or an unknown URL or model (404)
raises `JudgeUnavailable` at once: every later request would fail the same way. So does a
server that fails `max_consecutive_failures` requests in a row (down, or overloaded beyond
retrying). Anything else fails only its own request with `JudgeError` (e.g. 400 for a prompt
longer than the model's context) and the caller rejects that one sample.

The API key is read from the environment variable named by `api_key_env` when the client is
first used, kept only inside the SDK client, and never logged or shown in `repr`. Local servers
need none (`api_key_env: null`, or a variable that is unset): the SDK then sends the placeholder
"EMPTY", which vLLM and SGLang ignore unless started with `--api-key`.

Replies of reasoning models served with a reasoning parser carry the thinking in a separate
`reasoning_content` field; it is put back as `<think>...</think>` before the content, so reply
parsing and teacher reasoning work the same with and without the parser.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import Mapping, Sequence

from funcall.judges.base import ChatRequest, Completion, JudgeError, JudgeStats, JudgeUnavailable

RETRY_STATUS = {408, 409, 425, 429}


class OpenAIJudge:
    def __init__(self, base_url: str, model: str, api_key_env: str | None = "OPENAI_API_KEY",
                 concurrency: int = 16, timeout_s: float = 120.0, max_retries: int = 4,
                 backoff_s: float = 1.0, backoff_max_s: float = 30.0, max_consecutive_failures: int = 20,
                 token_limit_field: str = "max_tokens", extra_body: dict | None = None):
        if not base_url or not model:
            raise JudgeUnavailable("judge.base_url and judge.model must be set for judge=openai")
        self.base_url = str(base_url).rstrip("/")
        self.model_id = str(model)
        self.api_key_env = api_key_env
        self.concurrency = max(1, int(concurrency))
        self.timeout_s = float(timeout_s)
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = float(backoff_s)
        self.backoff_max_s = float(backoff_max_s)
        self.max_consecutive_failures = int(max_consecutive_failures)
        self.token_limit_field = token_limit_field
        self.extra_body = _plain(extra_body or {})  # a Hydra DictConfig becomes JSON-ready dicts and lists
        self.stats = JudgeStats()
        self._consecutive_failures = 0
        self._loop = None
        self._client = None
        self._semaphore: asyncio.Semaphore | None = None

    def __repr__(self) -> str:  # never the key
        return f"OpenAIJudge(base_url={self.base_url!r}, model={self.model_id!r}, api_key_env={self.api_key_env!r})"

    # -- session: the SDK client and the semaphore belong to one event loop -----------------
    def _session(self):
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            from openai import AsyncOpenAI

            key = os.environ.get(self.api_key_env) if self.api_key_env else None
            self._client = AsyncOpenAI(api_key=key or "EMPTY", base_url=self.base_url, max_retries=0,
                                       timeout=self.timeout_s)
            self._semaphore = asyncio.Semaphore(self.concurrency)
            self._loop = loop
        return self._client, self._semaphore

    async def aclose(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):  # closing a client of a finished loop is best effort
                await self._client.close()
            self._client, self._loop = None, None

    # -- one request -------------------------------------------------------------------------
    async def complete(self, request: ChatRequest) -> Completion:
        client, semaphore = self._session()
        self.stats.sent += 1
        async with semaphore:
            error = JudgeError("unknown", "no attempt made")
            for attempt in range(self.max_retries + 1):
                if attempt:
                    self.stats.http_retries += 1
                    await asyncio.sleep(self._delay(attempt, error))
                try:
                    completion = await self._attempt(client, request)
                except _Retryable as exc:
                    error = exc.error
                    self.stats.retried[error.kind] = self.stats.retried.get(error.kind, 0) + 1
                    continue
                except JudgeError as exc:  # not worth retrying (e.g. HTTP 400): this request only
                    self.stats.failed(exc.kind)
                    raise
                self._consecutive_failures = 0
                self.stats.answered += 1
                self.stats.prompt_tokens += completion.prompt_tokens
                self.stats.completion_tokens += completion.completion_tokens
                return completion
        self.stats.failed(error.kind)
        self._consecutive_failures += 1
        if self.max_consecutive_failures and self._consecutive_failures >= self.max_consecutive_failures:
            raise JudgeUnavailable(f"judge at {self.base_url} failed {self._consecutive_failures} requests in a row "
                                   f"(last: {error.kind}: {error}); is the server up?")
        raise error

    def _delay(self, attempt: int, error: JudgeError) -> float:
        if error.retry_after is not None:
            return min(self.backoff_max_s, error.retry_after)
        base = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        return base * random.uniform(0.5, 1.0)

    async def _attempt(self, client, request: ChatRequest) -> Completion:
        import openai

        params = {"model": self.model_id, "messages": request.message_dicts(), "temperature": request.temperature,
                  self.token_limit_field: request.max_tokens}
        if request.seed is not None:
            params["seed"] = request.seed
        if self.extra_body:
            params["extra_body"] = self.extra_body
        try:
            response = await asyncio.wait_for(client.chat.completions.create(**params), self.timeout_s)
        except (asyncio.TimeoutError, TimeoutError, openai.APITimeoutError):
            raise _Retryable(JudgeError("timeout", f"no reply within {self.timeout_s:g} s")) from None
        except openai.APIConnectionError as exc:
            raise _Retryable(JudgeError("connection", f"cannot reach {self.base_url}: {exc}")) from None
        except openai.APIResponseValidationError as exc:
            raise _Retryable(JudgeError("bad_response", f"unreadable response body: {exc}")) from None
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from None
        except openai.APIError as exc:
            raise _Retryable(JudgeError("api_error", str(exc)[:300])) from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # a body the SDK could not decode
            raise _Retryable(JudgeError("bad_response", f"unreadable response body: {type(exc).__name__}")) from None
        return self._read(response)

    def _status_error(self, exc) -> Exception:
        status = exc.status_code
        message = _short(exc)
        if status in (401, 403):
            sent = f"the key from ${self.api_key_env}" if self.api_key_env else "no key (judge.api_key_env is null)"
            return JudgeUnavailable(f"judge at {self.base_url} refused the request (HTTP {status}; sent {sent}): {message}")
        if status == 404:
            return JudgeUnavailable(f"judge at {self.base_url}: HTTP 404 for model {self.model_id!r}: {message} "
                                    "(check judge.base_url, usually ending in /v1, and judge.model)")
        if status in RETRY_STATUS or status >= 500:
            return _Retryable(JudgeError(f"http_{status}", message, _retry_after(exc)))
        return JudgeError(f"http_{status}", message)

    def _read(self, response) -> Completion:
        choices = getattr(response, "choices", None)
        if not choices:
            raise _Retryable(JudgeError("bad_response", "response has no choices"))
        message = getattr(choices[0], "message", None)
        if message is None:
            raise _Retryable(JudgeError("bad_response", "response choice has no message"))
        content = message.content if isinstance(message.content, str) else ""
        extra = getattr(message, "model_extra", None) or {}
        reasoning = extra.get("reasoning_content") or extra.get("reasoning")
        if isinstance(reasoning, str) and reasoning and "<think>" not in content:
            content = f"<think>{reasoning}</think>{content}"
        usage = getattr(response, "usage", None)
        return Completion(content, int(getattr(usage, "prompt_tokens", 0) or 0),
                          int(getattr(usage, "completion_tokens", 0) or 0))


class _Retryable(Exception):
    def __init__(self, error: JudgeError):
        super().__init__(str(error))
        self.error = error


def _plain(value):
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (isinstance(value, Sequence) and not isinstance(value, (str, bytes))):
        return [_plain(v) for v in value]
    return value


def _short(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        if isinstance(message, str):
            return message[:300]
    return str(exc)[:300]


def _retry_after(exc) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return max(0.0, float(value)) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None
