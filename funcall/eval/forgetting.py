"""HumanEval inside training: ``eval/humaneval_pass@1`` every N steps, beside ``eval/ast_accuracy``.

`HumanEvalDuringTraining` is what `funcall.trainers.session.Session.evaluate` calls next to the
held-out AST evaluation when the train config's ``humaneval.every`` is positive. It is the same
`funcall.eval.humaneval.HumanEvalTask` as ``python -m funcall.evaluate eval=humaneval`` (same
prompts, sandbox and pass@k), run on the live training weights through the trainer's generation
engine, usually on a subset (``humaneval.limit``, the first N problems) so a forgetting curve
costs little per point.

How it differs from the evaluation app: problems are split over ranks and every rank makes the
same generation calls (ZeRO-3 needs that), each rank runs its own share of samples in its own
sandbox workers, and all ranks get the same metrics back (an all-gather of the graded rows).
Rank 0 keeps every evaluated step's per-problem results in ``humaneval/step_NNNNNN.jsonl`` in the
run dir, so the curve can be traced back to the completions that made it. With ``prompt_limit``
(the model's context minus the answer budget) a problem whose prompt is over it is not run and
counts as failed (``eval/humaneval_not_run``, logged only when some were not run), as in the app.
"""
from __future__ import annotations

import json
from pathlib import Path

from funcall.dist import DistInfo, all_gather_objects, shard
from funcall.eval.humaneval import HumanEvalTask, warn_not_run
from funcall.utils.errors import ConfigError

PREFIX = "eval/humaneval_"


class HumanEvalDuringTraining:
    def __init__(self, task: HumanEvalTask, tokenizer, dist: DistInfo, run_dir: Path, every: int,
                 prompt_limit: int | None = None):
        self.task = task
        self.tokenizer = tokenizer
        self.dist = dist
        self.run_dir = Path(run_dir)
        self.every = int(every)
        self.prompt_limit = task.max_prompt_tokens if task.max_prompt_tokens is not None else prompt_limit
        task.load()  # the problems, and the sandbox's isolation check: fail before training starts
        self.mine = shard(len(task.problems), dist.rank, dist.world_size)

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def __call__(self, engine, step: int) -> dict[str, float]:
        problems = [self.task.problems[i] for i in self.mine]
        texts = self.task.generate(engine, self.tokenizer, problems, prompt_limit=self.prompt_limit)
        rows = self.task.grade(problems, texts, self.mine)
        rows = sorted((r for part in all_gather_objects(rows) for r in part), key=lambda r: r["index"])
        scores = self.task.scores(rows)
        metrics = {f"{PREFIX}pass@{k}": v for k, v in scores["pass@k"].items()}
        metrics.update({f"{PREFIX}solved": scores["problems_solved"], f"{PREFIX}n": scores["n_problems"]})
        if scores["not_run"]:
            metrics[f"{PREFIX}not_run"] = scores["not_run"]
        if self.dist.is_main:
            if scores["not_run"]:
                warn_not_run(scores)
            folder = self.run_dir / "humaneval"
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / f"step_{step:06d}.jsonl", "w") as f:
                for row in rows:
                    f.write(json.dumps(row) + "\n")
        return metrics


def build(cfg, tokenizer, dist: DistInfo, run_dir: Path,
          prompt_limit: int | None = None) -> HumanEvalDuringTraining | None:
    """From the train config's ``humaneval`` node; None when it is absent or ``every`` is 0.
    ``prompt_limit``: the model's context minus ``humaneval.max_new_tokens`` (None: no limit)."""
    from omegaconf import OmegaConf

    node = cfg.get("humaneval") if hasattr(cfg, "get") else None
    if node is None or not int(node.get("every") or 0):
        return None
    settings = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if k not in ("every", "_target_")}
    try:
        task = HumanEvalTask(**settings, config_key="humaneval")
    except TypeError as exc:
        raise ConfigError(f"humaneval: {exc}") from None
    return HumanEvalDuringTraining(task, tokenizer, dist, run_dir, int(node.every), prompt_limit)
