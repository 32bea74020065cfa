"""Run samples through the stages, many at once, and account for every one of them.

`concurrency` workers each take the next sample and carry it through every stage in turn (a sample's
judge requests are sequential: each check depends on the one before), so up to `concurrency`
samples are in flight and the judge backend bounds the requests that reach the server. Results
come back in input order. A stage that raises for one sample (a bug, or data no rule foresaw)
rejects that sample with reason `internal_error` rather than losing a long run; a `UserError`
(e.g. `JudgeUnavailable`: the judge refuses the key, or is down) stops the whole run, since every
later sample would fail the same way.

`tally` turns results into report.json's per-stage counts: how many samples entered each stage,
passed it, and were rejected there by reason, plus the notes stages leave (e.g. `calls_regenerated`).
"""
from __future__ import annotations

import asyncio
from collections import Counter

from funcall.prepare.samples import Rejection, Sample
from funcall.prepare.stages import Stage, reject
from funcall.utils.errors import UserError


class Pipeline:
    def __init__(self, stages: list[Stage], concurrency: int = 32):
        self.stages = stages
        self.concurrency = max(1, int(concurrency))

    async def run_one(self, sample: Sample) -> Sample | Rejection:
        current: Sample | Rejection = sample
        for stage in self.stages:
            try:
                current = await stage.run(current)
            except UserError:
                raise
            except Exception as exc:  # noqa: BLE001  one sample's surprise must not end the run
                return reject(sample, stage.name, "internal_error", f"{type(exc).__name__}: {exc}")
            if isinstance(current, Rejection):
                return current
        return current

    async def run(self, samples: list[Sample], progress=None) -> list[Sample | Rejection]:
        results: list[Sample | Rejection | None] = [None] * len(samples)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(len(samples)):
            queue.put_nowait(i)
        counts = Counter()

        async def worker() -> None:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                results[i] = await self.run_one(samples[i])
                counts["kept" if isinstance(results[i], Sample) else "rejected"] += 1
                if progress is not None:
                    progress.set_postfix(counts, refresh=False)
                    progress.update(1)

        workers = [asyncio.ensure_future(worker()) for _ in range(min(self.concurrency, len(samples)) or 1)]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        return results  # type: ignore[return-value]


def tally(stage_names: list[str], input_rejections: list[Rejection], n_input: int,
          results: list[Sample | Rejection]) -> dict:
    """Per stage: {"in", "passed", "rejected": {reason: n}, "notes": {note: n}}; notes are counted
    over every sample that left one, kept or rejected later."""
    stages = {"input": {"in": n_input, "passed": n_input - len(input_rejections),
                        "rejected": dict(Counter(r.reason for r in input_rejections)), "notes": {}}}
    reached = n_input - len(input_rejections)
    for name in stage_names:
        rejected = Counter(r.reason for r in results if isinstance(r, Rejection) and r.stage == name)
        notes = Counter(note.split(":", 1)[1] for r in results for note in r.notes if note.startswith(name + ":"))
        passed = reached - sum(rejected.values())
        stages[name] = {"in": reached, "passed": passed, "rejected": dict(rejected), "notes": dict(notes)}
        reached = passed
    return stages
