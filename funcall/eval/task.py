"""What `python -m funcall.evaluate` asks of an evaluation task, and generation in step over ranks.

The app (funcall/evaluate.py) is task-agnostic: it loads the model once, builds a generation
engine, and hands it to the task picked by the ``eval`` config group (``eval=bfcl`` today; a
future ``eval=humaneval`` is another class with the same members). The task owns its data,
prompts, grading, scores and files.

`generate_in_step` (and `GreedySteps`, the same as the multi-turn episode driver's step sampler,
`funcall.rollout.episode_driver`) differs from calling ``engine.generate(prompts)`` once per rank in two ways:
* it calls the engine once per batch (prompts sorted by length, so little padding), which lets
  rank 0 move a progress bar;
* every rank makes the same calls with the same batch sizes, because generation under ZeRO-3 is
  collective (a gather per call, or per token with ``synced_gpus``): the ranks first agree on the
  largest prompt count, and a rank with fewer pads its last batches with a copy of its shortest
  prompt whose answer is thrown away. Entries are dealt round-robin (`funcall.dist.shard`), so counts
  differ by at most one, plus whatever a task leaves out (over-long prompts).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from funcall.dist import all_gather_objects
from funcall.rollout.engine import Rollouts


@dataclass
class Report:
    """What the app logs after a task has been scored (rank 0 only)."""

    metrics: dict[str, Any]  # flat numbers for metrics.jsonl, summary.json and W&B
    table: str  # the text printed at the end
    failure_columns: list[str] = field(default_factory=list)  # W&B table of failed entries
    failure_rows: list[list[Any]] = field(default_factory=list)


class EvalTask(Protocol):
    name: str  # prefix of the metric names and the W&B table key

    def load(self) -> int:
        """Validate the config and read the data; return the number of entries. Raises a
        `funcall.utils.errors.UserError` (one line, exit 2) for anything the user can fix."""

    def run(self, engine, tokenizer, dist, context_length: int | None = None, progress=None) -> list[dict]:
        """Generate and grade this rank's entries; one JSON-safe row per entry, each with ``index``
        (its position in the whole task), so rank 0 can put every rank's rows back in order."""

    def report(self, rows: list[dict], run_dir: Path, meta: dict[str, Any]) -> Report:
        """Score every rank's rows, write the task's files into ``run_dir``, return what to log."""


def generate_in_step(engine, prompts: list[list[int]], *, batch_size: int, max_new_tokens: int,
                     progress=None, sent_per_rank: int | None = None) -> list[list[int]]:
    """Greedy completions (token ids) for ``prompts``, in their order; see the module docstring.
    ``sent_per_rank``: how many prompts every rank sends; None = the largest count over the
    process group (one all-gather)."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    if sent_per_rank is None:
        sent_per_rank = max(all_gather_objects(len(prompts)))
    if sent_per_rank < len(prompts):
        raise ValueError(f"sent_per_rank={sent_per_rank} is less than this rank's {len(prompts)} prompts")
    filler = prompts[order[0]] if prompts else [0]
    sent = [prompts[i] for i in order] + [filler] * (sent_per_rank - len(prompts))
    outputs: list[list[int]] = [[] for _ in prompts]
    for start in range(0, sent_per_rank, batch_size):
        batch = sent[start:start + batch_size]
        completions = engine.generate(batch, max_new_tokens=max_new_tokens, greedy=True).ids
        if len(completions) != len(batch):
            raise RuntimeError(f"generation engine returned {len(completions)} completions for {len(batch)} prompts")
        real = order[start:start + batch_size]
        for i, ids in zip(real, completions):
            outputs[i] = list(ids)
        if progress is not None and real:
            progress.update(len(real))
    return outputs


class GreedySteps:
    """Evaluation's `funcall.rollout.episode_driver.StepSampler`: each round's next steps greedy,
    through `generate_in_step` (length-sorted batches of ``batch_size``, the same calls on every rank)."""

    def __init__(self, engine, *, batch_size: int, max_new_tokens: int):
        self.engine, self.batch_size, self.max_new_tokens = engine, batch_size, max_new_tokens

    def __call__(self, contexts: list[list[int]]) -> Rollouts:
        return Rollouts(generate_in_step(self.engine, contexts, batch_size=self.batch_size,
                                         max_new_tokens=self.max_new_tokens))
