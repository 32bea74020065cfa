"""What happens around the steps of a training loop: periodic checkpoints and evaluations, the
per-step log line, and the end of the run (final evaluation, export, summary, and the closing
line on the console: steps, time, the held-out score, what was skipped, the run folder).

A loop (`funcall.trainers.sft`, `funcall.trainers.rl`) is: build its parts once
(`funcall.trainers.build`), open a `Session` on them, then for each step do the step's work,
``session.log_step`` and ``session.after_step``; at the end ``session.finish``. The session holds only
what changes during the run (time spent evaluating, which ``trainer.max_wall_s`` does not count).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from omegaconf import DictConfig

from funcall.dist import DistInfo, all_gather_objects, sum_over_ranks
from funcall.logging.console import duration, log
from funcall.logging.run_log import RunLog
from funcall.models.lora import is_lora
from funcall.trainers import checkpoint
from funcall.utils.errors import ConfigError
from funcall.utils.peak_memory import PeakMemory


@dataclass
class LoopSettings:
    """The knobs every training loop has (``conf/trainer/*.yaml``); each trainer adds its own."""

    max_steps: int = 200
    max_length: int = 512
    log_every: int = 1
    save_every: int = 0
    keep_checkpoints: int = 2
    resume: bool = False
    eval_every: int = 0
    eval_at_start: bool = False
    eval_size: int | None = None
    eval_max_new_tokens: int = 128
    eval_batch_size: int = 64
    export: bool = True
    export_adapter: bool = False  # with model.lora: also write the adapter alone to run_dir/adapter
    precision: str = "auto"  # auto | bf16 | fp32: DeepSpeed's bf16.enabled (funcall.trainers.ds_config)
    max_wall_s: float | None = None
    overlong: str = "error"  # an example over its token budget: error | skip (funcall.data.length_budget); never cut
    logit_chunk: int | None = 1024  # positions per output-layer chunk (funcall.models.output_layer); null: all at once


class Trainer(Protocol):
    """A training loop, the ``trainer`` group's ``_target_`` (`funcall.trainers.sft.SFTTrainer`,
    `funcall.trainers.rl.RLTrainer`)."""

    def check(self, cfg: DictConfig, world_size: int) -> None:
        """Raise a one-line `ConfigError` for any value this loop cannot run with, before anything is
        loaded or written (`funcall.trainers.checks`)."""

    def fit(self, cfg: DictConfig, run: RunContext) -> dict:
        """Train; return the run's summary."""


@dataclass
class RunContext:
    """The run directory, this process's place in the job, the log and the logged config."""

    run_dir: Path
    dist: DistInfo
    log: RunLog
    config: dict[str, Any]
    progress: Any = None
    where: Path | None = None  # the folder the closing line names, when the run is moved there after it ends

    def bar(self, total: int, initial: int) -> None:
        if self.dist.is_main and self.progress is None:
            from tqdm.auto import tqdm

            self.progress = tqdm(total=total, initial=initial, desc="train", dynamic_ncols=True)


class Session:
    def __init__(self, run: RunContext, settings: LoopSettings, parts, model_prefix: str = "model."):
        self.run, self.settings, self.parts = run, settings, parts
        self.model_prefix = model_prefix  # the HF model's name inside the DeepSpeed module
        if settings.export_adapter and not is_lora(parts.model):
            raise ConfigError("trainer.export_adapter=true needs LoRA adapters: set model.lora.r")
        self.eval_seconds = 0.0
        self.evaluated: dict[int, dict[str, float]] = {}  # step -> metrics of a whole evaluation at that step
        self.t_start = time.time()
        self.skipped: dict[str, float] = {}  # data/skipped_long_* summed over the run (and ranks)
        self.memory = PeakMemory(parts.engine.device)  # peak memory per phase (funcall/utils/peak_memory.py)

    def log_step(self, row: dict[str, Any], step: int) -> None:
        """`log_step` this step's row, keeping the run's totals of skipped examples."""
        row.update(self.memory.take_step())
        merged = log_step(self.run, row, step, every=self.settings.log_every, last=step == self.settings.max_steps)
        for key, value in merged.items():
            if key.startswith("data/skipped_long"):
                self.skipped[key] = self.skipped.get(key, 0.0) + value

    def out_of_time(self) -> bool:
        """``trainer.max_wall_s`` reached (training time only; evaluations excluded)."""
        limit = self.settings.max_wall_s
        return bool(limit) and time.time() - self.t_start - self.eval_seconds > limit

    def lr(self) -> float:
        return float(self.parts.engine.get_lr()[0])

    def last_checkpoint(self) -> str | None:
        return checkpoint.latest_tag(self.run.run_dir)

    def evaluate(self, step: int, heldout: bool = True, humaneval: bool = True) -> dict[str, float]:
        """The held-out AST evaluation and, when configured, HumanEval (the forgetting check),
        both generated by the run's rollout engine on the current weights."""
        parts, metrics, samples = self.parts, {}, []
        t0 = time.time()
        with self.memory.phase("eval"):
            if heldout and parts.heldout is not None:
                parts.rollout.sync_weights()
                metrics, samples = parts.heldout(parts.rollout)
                parts.rollout.release()
            if humaneval and parts.humaneval is not None:
                parts.rollout.sync_weights()
                metrics.update(parts.humaneval(parts.rollout, step))
                parts.rollout.release()
        self.eval_seconds += time.time() - t0
        if heldout and humaneval:
            self.evaluated[step] = metrics
        if not metrics:
            return {}
        self.run.log.log(metrics, step)
        if samples:
            self.run.log.table("eval/samples", ["id", "category", "completion", "reward"],
                               [[s["id"], s["category"], s["completion"], s["reward"]] for s in samples[:32]], step)
        return metrics

    def save(self, step: int) -> None:
        with self.memory.phase("checkpoint"):
            checkpoint.save(self.parts.engine, self.run.run_dir, step, keep=self.settings.keep_checkpoints,
                            is_main=self.run.dist.is_main)

    def after_step(self, step: int) -> None:
        """The evaluations due at ``step``, then its checkpoint: a run killed between the two
        resumes from the step before and evaluates this one again, rather than never."""
        s = self.settings
        ast_due = bool(s.eval_every) and step % s.eval_every == 0
        humaneval_due = self.parts.humaneval is not None and self.parts.humaneval.due(step)
        if (ast_due or humaneval_due) and step < s.max_steps:
            self.evaluate(step, heldout=ast_due, humaneval=humaneval_due)
        if s.save_every and step % s.save_every == 0 and step < s.max_steps:
            self.save(step)

    def finish(self, step: int, notes: dict[str, Any] | None = None) -> dict:
        """Final evaluation, last checkpoint, HF export, ``summary.json`` (with ``notes``)."""
        run, parts, s = self.run, self.parts, self.settings
        # a run that ends where it was last evaluated (0 steps after eval_at_start) is not scored twice
        final_eval = self.evaluated[step] if step in self.evaluated else self.evaluate(step)
        wall_s = time.time() - self.t_start  # with the final evaluation, which eval_seconds counts too
        if s.save_every:
            self.save(step)
        export_dir = run.run_dir / "hf_model"
        if s.export:
            with self.memory.phase("export"):
                checkpoint.export_hf(parts.engine, parts.model, parts.tokenizer, export_dir, run.dist.is_main,
                                     prefix=self.model_prefix)
        if s.export_adapter:
            checkpoint.export_adapter(parts.engine, parts.model, run.run_dir / "adapter", run.dist.is_main)
        summary = dict(run.log.last)
        summary.update(final_eval)
        summary.update(notes or {})
        summary.update({k: int(v) for k, v in self.skipped.items()})  # run totals, not the last step's
        summary.update(steps=step, wall_s=wall_s, train_s=wall_s - self.eval_seconds,
                       world_size=run.dist.world_size, zero_stage=parts.zero_stage,
                       hf_model=str(export_dir) if s.export else None,
                       params_per_rank=all_gather_objects(local_param_count(parts.engine.module)),
                       memory_peak_gb_per_rank=all_gather_objects(self.memory.run_peaks))
        run.log.summary(summary)
        if run.progress is not None:
            run.progress.close()
        run.log.close()
        if run.dist.is_main:
            log.info(closing_line(summary, run.where or run.run_dir))
        return summary


def closing_line(summary: dict[str, Any], run_dir: Path) -> str:
    """``done: 40 steps in 5m12s, eval/ast_accuracy 0.6275; results in outputs/...`` (plus what was skipped)."""
    scores = [f"{k} {summary[k]:.4g}" for k in ("eval/ast_accuracy", "eval/episode_pass", "eval/humaneval_pass@1")
              if isinstance(summary.get(k), (int, float))]
    skipped = [f"{k} {int(v)}" for k, v in summary.items() if k.startswith("data/skipped_long") and v]
    what = ", ".join([f"{summary['steps']} steps in {duration(summary['wall_s'])}", *scores, *skipped])
    return f"done: {what}; results in {run_dir}"


def local_param_count(module: torch.nn.Module) -> int:
    """Parameter elements this rank holds (its shard under ZeRO-3, everything otherwise)."""
    return sum(p.ds_tensor.numel() if hasattr(p, "ds_tensor") else p.numel() for p in module.parameters())


SUMMED = ("tokens/step", "data/skipped_long_prompts", "data/skipped_long_examples",
          "rollout/resampled_prompts")  # counts: summed over ranks
MAXED = "memory/"  # peaks: the largest over ranks; every other metric is averaged


def log_step(run: RunContext, row: dict[str, Any], step: int, every: int, last: bool) -> dict[str, float]:
    """Average (for counts, sum; for memory peaks, take the largest) the step's metrics over ranks,
    then log them on rank 0.
    Ranks may hold different keys (a metric one rank could not compute): each is averaged over
    the ranks that hold it, and every rank makes the same collective calls."""
    values = {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and v is not None}
    totals = sum_over_ranks({**values, **{f"#{k}": 1.0 for k in values}})
    merged = {k: (t if k in SUMMED else t / totals[f"#{k}"]) for k, t in totals.items() if not k.startswith("#")}
    peaks = [{k: v for k, v in values.items() if k.startswith(MAXED)}]
    if any(k.startswith(MAXED) for k in merged):
        peaks = all_gather_objects(peaks[0])
    merged.update({k: max(p[k] for p in peaks if k in p) for k in merged if k.startswith(MAXED)})
    if run.progress is not None:
        run.progress.update(1)
        run.progress.set_postfix({k: f"{merged[k]:.4g}" for k in ("loss", "reward/mean") if k in merged})
    if last or step % max(1, every) == 0:
        run.log.log(merged, step)
    return merged


def optimizer_step(engine) -> float | None:
    """``engine.step()`` after a micro-batch's backward; at the accumulation boundary (when the
    optimizer really steps) also the global gradient norm of that step, else None.

    ZeRO stages compute the norm inside the step; without ZeRO DeepSpeed leaves it to torch's
    optimizer, so it is taken from the (already all-reduced) gradients just before."""
    boundary = engine.is_gradient_accumulation_boundary()
    before = None
    if boundary and not engine.zero_optimization():
        grads = [p.grad for p in engine.module.parameters() if p.grad is not None]
        before = float(torch.nn.utils.get_total_norm(grads)) if grads else None
    engine.step()
    if not boundary:
        return None
    norm = engine.get_global_grad_norm()
    return before if norm is None else float(norm)
