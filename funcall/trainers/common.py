"""What SFT and RL trainers share: building data, model and DeepSpeed engine from the config,
resuming, periodic checkpoints and evaluation, the progress bar, and the end-of-run summary.

`setup_engine` does the build in an order chosen for failure: data is read and validated first,
then the run directory is checked (a finished or running run there is never overwritten unless
``trainer.resume=true``), and only then is anything heavy loaded or anything written.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from funcall.data.sampler import GlobalSampler
from funcall.eval.heldout import HeldOutEval
from funcall.logging.run_log import RunLog
from funcall.models.load import load_pretrained
from funcall.rollout.engine import RolloutEngine
from funcall.trainers import checkpoint
from funcall.trainers.distributed import DistInfo, all_gather_objects, sum_over_ranks, zero_stage
from funcall.utils.errors import ConfigError
from funcall.utils.instantiate import instantiate


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
    precision: str = "auto"  # read by the DeepSpeed config (bf16.enabled)
    max_wall_s: float | None = None


@dataclass
class RunContext:
    """The run directory, this process's place in the job, the log and the logged config."""

    run_dir: Path
    dist: DistInfo
    log: RunLog
    config: dict[str, Any]
    progress: Any = None

    def bar(self, total: int, initial: int):
        if self.dist.is_main and self.progress is None:
            from tqdm.auto import tqdm

            self.progress = tqdm(total=total, initial=initial, desc="train", dynamic_ncols=True)
        return self.progress


def deepspeed_config(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg.deepspeed, resolve=True)


def inference_ds_config(ds: dict) -> dict:
    """The DeepSpeed config of a model without optimizer (the RL reference, evaluation): ZeRO-3
    shards it like the policy; below stage 3 there is nothing to shard in a model without
    gradients or optimizer state, so it runs as stage 0."""
    ds = dict(ds)
    zero = ds.get("zero_optimization", {})
    ds["zero_optimization"] = ({k: v for k, v in zero.items() if k != "offload_optimizer"}
                               if zero.get("stage") == 3 else {"stage": 0})
    ds.pop("zero_force_ds_cpu_optimizer", None)
    return ds


def build_data(cfg: DictConfig, eval_size: int | None):
    source = instantiate(cfg.data.source, _key="data.source")
    style = instantiate(cfg.data.prompt, _key="data.prompt")
    train = source.train()
    held_out = source.held_out()
    if eval_size is not None:
        held_out = held_out[:eval_size]
    return train, held_out, style


def check_run_dir(run_dir: Path, resume: bool) -> None:
    if resume:
        return
    for name in ("metrics.jsonl", "checkpoints/latest", "summary.json"):
        if (run_dir / name).exists():
            raise ConfigError(
                f"hydra.run.dir={run_dir} already holds a run ({name}); pass trainer.resume=true to continue "
                f"it, or pick another hydra.run.dir")


@dataclass
class Setup:
    """A ready engine plus the helpers the loops call between steps."""

    run: RunContext
    trainer: Any
    engine: Any
    model: torch.nn.Module  # the Hugging Face model inside the engine
    model_prefix: str
    tokenizer: Any
    style: Any
    train: Any
    sampler: GlobalSampler
    heldout: HeldOutEval | None
    start_step: int
    zero_stage: int
    rollout: RolloutEngine  # cfg.rollout.engine on the training weights: RL sampling and every evaluation
    first_step_ids: list | None = None  # this rank's example ids of its first step, for the summary
    eval_seconds: float = 0.0  # time spent evaluating, which `trainer.max_wall_s` does not count
    notes: dict = field(default_factory=dict)  # extra summary.json entries (e.g. the warm-start path)
    humaneval: Any = None  # funcall.eval.forgetting.HumanEvalDuringTraining when humaneval.every > 0

    def out_of_time(self, t_start: float) -> bool:
        """``trainer.max_wall_s`` reached (training time only; evaluations excluded)."""
        limit = getattr(self.trainer, "max_wall_s", None)
        return bool(limit) and time.time() - t_start - self.eval_seconds > limit

    def lr(self) -> float:
        return float(self.engine.get_lr()[0])

    def last_checkpoint(self) -> str | None:
        return checkpoint.latest_tag(self.run.run_dir)

    def evaluate(self, step: int, heldout: bool = True, humaneval: bool = True) -> dict[str, float]:
        """The held-out AST evaluation and, when configured, HumanEval (the forgetting check)."""
        metrics: dict[str, float] = {}
        samples: list[dict] = []
        t0 = time.time()
        if heldout and self.heldout is not None:
            self.rollout.sync_weights()
            metrics, samples = self.heldout(self.rollout)
        if humaneval and self.humaneval is not None:
            self.rollout.sync_weights()
            metrics.update(self.humaneval(self.rollout, step))
        self.eval_seconds += time.time() - t0
        if not metrics:
            return {}
        self.run.log.log(metrics, step)
        if samples:
            self.run.log.table("eval/samples", ["id", "category", "completion", "reward"],
                               [[s["id"], s["category"], s["completion"], s["reward"]] for s in samples[:32]], step)
        return metrics

    def save(self, step: int, trainer_state: dict | None = None) -> None:
        checkpoint.save(self.engine, self.run.run_dir, step, trainer_state, keep=self.trainer.keep_checkpoints,
                        is_main=self.run.dist.is_main)

    def after_step(self, step: int, trainer_state: dict | None = None) -> None:
        t = self.trainer
        if t.save_every and step % t.save_every == 0 and step < t.max_steps:
            self.save(step, trainer_state)
        ast_due = bool(t.eval_every) and step % t.eval_every == 0
        humaneval_due = self.humaneval is not None and self.humaneval.due(step)
        if (ast_due or humaneval_due) and step < t.max_steps:
            self.evaluate(step, heldout=ast_due, humaneval=humaneval_due)

    def finish(self, step: int, wall_s: float, trainer_state: dict | None = None) -> dict:
        run = self.run
        final_eval = self.evaluate(step)
        if self.trainer.save_every:
            self.save(step, trainer_state)
        export_dir = run.run_dir / "hf_model"
        if self.trainer.export:
            checkpoint.export_hf(self.engine, self.model, self.tokenizer, export_dir, run.dist.is_main,
                                 prefix=self.model_prefix)
        summary = {k: v for k, v in run.log.last.items()}
        summary.update(final_eval)
        summary.update(self.notes)
        summary.update(steps=step, wall_s=wall_s, train_s=wall_s - self.eval_seconds,
                       world_size=run.dist.world_size, zero_stage=self.zero_stage,
                       hf_model=str(export_dir) if self.trainer.export else None,
                       params_per_rank=all_gather_objects(local_param_count(self.engine.module)),
                       first_step_ids_per_rank=all_gather_objects(self.first_step_ids))
        run.log.summary(summary)
        if run.progress is not None:
            run.progress.close()
        run.log.close()
        return summary


def optimizer_groups(module: torch.nn.Module, extra: list[dict]) -> list[dict]:
    """AdamW groups: ``extra`` (a loss's own parameters with their own settings, see
    `funcall.losses.base.SFTLoss.parameter_groups`) and every other trainable parameter of
    ``module`` in the default group (the optimizer config's lr and weight decay)."""
    taken = {id(p) for group in extra for p in group["params"]}
    rest = [p for p in module.parameters() if p.requires_grad and id(p) not in taken]
    return [{"params": rest}, *extra]


def setup_engine(cfg: DictConfig, run: RunContext, trainer, module: Callable, total_steps: int,
                 model_prefix: str = "model.", model_path: str | None = None,
                 param_groups: list[dict] | None = None) -> Setup:
    """Data, model, optimizer, schedule, DeepSpeed engine and rollout engine, resumed if asked.
    ``module(model)`` is what DeepSpeed wraps (the model with its loss for SFT, the policy for
    RL); ``param_groups`` are extra optimizer groups (`optimizer_groups`)."""
    import deepspeed

    train, held_out, style = build_data(cfg, trainer.eval_size)
    check_run_dir(run.run_dir, trainer.resume)
    ds_config = deepspeed_config(cfg)
    source = instantiate(cfg.model, _key="model")
    if model_path:
        source.path = model_path
    model, tokenizer, _ = load_pretrained(source, ds_config)
    wrapped = module(model)
    optimizer = instantiate(cfg.optim.optimizer, _key="optim.optimizer")(optimizer_groups(wrapped, param_groups or []))
    schedule = instantiate(cfg.optim.scheduler, _key="optim.scheduler")
    engine, _, _, _ = deepspeed.initialize(
        model=wrapped, optimizer=optimizer, config=ds_config,
        lr_scheduler=functools.partial(schedule, total_steps=total_steps))
    rollout = instantiate(cfg.rollout.engine, module=model, tokenizer=tokenizer, ds_engine=engine,
                          _key="rollout.engine")
    start_step, resumed = 0, False
    if trainer.resume:
        state = checkpoint.load(engine, run.run_dir, run.dist.rank)
        if state is not None:
            start_step, resumed = int(state["step"]), True
    run.log.start(run.config, resume_step=start_step if resumed else None)
    if run.dist.is_main:
        run.bar(total_steps, start_step)
    heldout = None
    if held_out:  # evaluated at the end always, and every eval_every steps
        heldout = HeldOutEval(held_out, tokenizer, style, run.dist, trainer.eval_max_new_tokens,
                              trainer.eval_batch_size)
    from funcall.eval.forgetting import build as build_humaneval

    return Setup(run=run, trainer=trainer, engine=engine, model=model, model_prefix=model_prefix,
                 tokenizer=tokenizer, style=style, train=train,
                 sampler=GlobalSampler(len(train), seed=int(cfg.seed)), heldout=heldout,
                 start_step=start_step, zero_stage=zero_stage(ds_config), rollout=rollout,
                 humaneval=build_humaneval(cfg, tokenizer, run.dist, run.run_dir))


def local_param_count(module: torch.nn.Module) -> int:
    """Parameter elements this rank holds (its shard under ZeRO-3, everything otherwise)."""
    return sum(p.ds_tensor.numel() if hasattr(p, "ds_tensor") else p.numel() for p in module.parameters())


SUMMED = ("tokens/step", "data/truncated")  # counts: summed over ranks; every other metric is averaged


def log_step(run: RunContext, row: dict[str, Any], step: int, every: int, last: bool, world_size: int) -> None:
    """Average (or, for counts, sum) the step's metrics over ranks, then log them on rank 0.
    Ranks may hold different keys (a metric one rank could not compute): each is averaged over
    the ranks that hold it, and every rank makes the same collective calls."""
    values = {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and v is not None}
    totals = sum_over_ranks({**values, **{f"#{k}": 1.0 for k in values}})
    merged = {k: (t if k in SUMMED else t / totals[f"#{k}"]) for k, t in totals.items() if not k.startswith("#")}
    if run.progress is not None:
        run.progress.update(1)
        run.progress.set_postfix({k: f"{merged[k]:.4g}" for k in ("loss", "reward/mean") if k in merged})
    if last or step % max(1, every) == 0:
        run.log.log(merged, step)
