"""A judge that is a local Hugging Face model (`judge=transformers`), generating in batches.

The pipeline asks one question per coroutine, many coroutines at a time; a GPU wants them in one
batch. Rather than a batch API that every caller would have to feed, `complete` queues the request
and a single drainer task, after letting the other coroutines queue theirs, takes up to
`batch_size` requests and generates them together with `funcall.rollout.hf.HFEngine` (left
padding, KV cache) in a worker thread, so the event loop keeps serving the cache and the
progress bar meanwhile. Requests with different sampling settings go in different batches.

The model loads on first use (`model_path: null` = the offline tiny model, whose replies are
noise: the tests use it to exercise the unreadable-reply path). A prompt that does not fit the
model's context with room for the reply fails that request (`JudgeError("prompt_too_long")`)
rather than being cut: a judge that never saw its instructions cannot judge. Generation errors
fail the batch's requests, never the run.
"""
from __future__ import annotations

import asyncio
import threading

from funcall.judges.base import ChatRequest, Completion, JudgeError, JudgeStats


class TransformersJudge:
    def __init__(self, model_path: str | None = None, batch_size: int = 8, dtype: str = "float32",
                 device: str = "auto", trust_remote_code: bool = False, tiny: dict | None = None):
        from funcall.models.load import ModelSource

        self.source = ModelSource(path=model_path, tiny=tiny, dtype=dtype, trust_remote_code=trust_remote_code)
        self.path = self.source.resolved_path()
        self.model_id = f"transformers:{self.path}"
        self.batch_size = max(1, int(batch_size))
        self.device = device
        self.stats = JudgeStats()
        self.batches = 0  # generation batches run (for tests and the curious)
        self._engine = None
        self._context: int | None = None
        self._load_lock = threading.Lock()
        self._loop = None
        self._queue: list[tuple[ChatRequest, asyncio.Future]] = []
        self._drainer: asyncio.Task | None = None

    def __repr__(self) -> str:
        return f"TransformersJudge(path={self.path!r}, batch_size={self.batch_size})"

    async def aclose(self) -> None:
        return None

    async def complete(self, request: ChatRequest) -> Completion:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._queue, self._drainer = loop, [], None
        self.stats.sent += 1
        future = loop.create_future()
        self._queue.append((request, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        try:
            completion = await future
        except JudgeError as exc:
            self.stats.failed(exc.kind)
            raise
        self.stats.answered += 1
        self.stats.prompt_tokens += completion.prompt_tokens
        self.stats.completion_tokens += completion.completion_tokens
        return completion

    async def _drain(self) -> None:
        while self._queue:
            for _ in range(3):  # let every runnable coroutine queue its request first
                await asyncio.sleep(0)
            settings = _sampling(self._queue[0][0])
            batch = [item for item in self._queue if _sampling(item[0]) == settings][: self.batch_size]
            taken = {id(item) for item in batch}
            self._queue = [item for item in self._queue if id(item) not in taken]
            try:
                results = await asyncio.to_thread(self._generate, [request for request, _ in batch])
            except Exception as exc:  # noqa: BLE001  a failed batch fails its requests, not the run
                results = [JudgeError("generation", f"{type(exc).__name__}: {exc}")] * len(batch)
            for (_, future), result in zip(batch, results):
                if future.done():  # the asker was cancelled
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    # -- in the worker thread ----------------------------------------------------------------
    def _load(self):
        with self._load_lock:
            if self._engine is None:
                import torch

                from funcall.models.load import load_pretrained
                from funcall.rollout.hf import HFEngine
                from funcall.utils.hydra_setup import quiet_libraries

                quiet_libraries()  # no weight-loading bar under the pipeline's own
                model, tokenizer, _ = load_pretrained(self.source)
                device = self.device
                if device == "auto":
                    device = "cuda" if torch.cuda.is_available() else "cpu"
                model.to(device).eval()
                self._context = getattr(model.config, "max_position_embeddings", None)
                self._engine = HFEngine(model, tokenizer, batch_size=self.batch_size)
        return self._engine

    def _prompt_ids(self, tokenizer, request: ChatRequest) -> list[int]:
        messages = request.message_dicts()
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def _generate(self, requests: list[ChatRequest]) -> list[Completion | JudgeError]:
        import torch

        engine = self._load()
        tokenizer = engine.tokenizer
        first = requests[0]
        results: list[Completion | JudgeError | None] = [None] * len(requests)
        prompts, slots = [], []
        for i, request in enumerate(requests):
            ids = self._prompt_ids(tokenizer, request)
            if self._context and len(ids) + request.max_tokens > self._context:
                results[i] = JudgeError("prompt_too_long", f"{len(ids)} prompt tokens + {request.max_tokens} "
                                        f"reply tokens > the model's context of {self._context}")
                continue
            prompts.append(ids)
            slots.append(i)
        if prompts:
            if first.temperature > 0:
                torch.manual_seed(first.seed or 0)
            outputs = engine.generate(prompts, max_new_tokens=first.max_tokens, greedy=first.temperature <= 0,
                                      temperature=max(first.temperature, 1e-5)).ids
            self.batches += 1
            for slot, ids, out in zip(slots, prompts, outputs):
                text = tokenizer.decode(out, skip_special_tokens=True)
                results[slot] = Completion(text, len(ids), len(out))
        return results  # type: ignore[return-value]


def _sampling(request: ChatRequest) -> tuple:
    return request.max_tokens, request.temperature, request.seed
