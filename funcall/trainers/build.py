"""Builders: the parts of a training run made from the config, once, in an order chosen for failure.

`build` makes everything a loop needs and returns it as `Built`, typed pieces a loop keeps as its own
attributes (`Policy`, `TrainingData`, `Evaluators`, the agent loop, the rollout engine): data and prompt
style, the agent loop (``cfg.agent``: single-turn or multi-turn, `funcall.agents`), the
run-directory check, the model and tokenizer, the optimizer and schedule, the
DeepSpeed engine (resumed from the latest checkpoint when asked), the rollout engine
(``cfg.rollout.engine``, which also generates every evaluation during training), and the
held-out evaluator (the agent loop's) and HumanEval. Data is read and validated first, then the run directory is
checked (a finished or running run there is never overwritten unless ``trainer.resume=true``),
and only then is anything heavy loaded or anything written.

What the loop wraps is the trainer's business (``module(model)``: the model and its loss for
SFT, the policy for RL), and so is the batch shape it derives for DeepSpeed (`Shape`).
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from omegaconf import DictConfig

from funcall.agents.base import AgentLoop, HeldOutEvaluator
from funcall.data.prompts import PromptStyle
from funcall.data.sampler import GlobalSampler
from funcall.data.schema import Example
from funcall.eval.forgetting import HumanEvalDuringTraining
from funcall.eval.forgetting import build as build_humaneval
from funcall.models.load import context_length, load_pretrained
from funcall.rollout.engine import RolloutEngine
from funcall.trainers import checkpoint
from funcall.trainers.ds_config import deepspeed_config, zero_stage
from funcall.trainers.run_context import RunContext
from funcall.utils.errors import ConfigError
from funcall.utils.instantiate import instantiate


@dataclass(frozen=True)
class Shape:
    """The batch shape the loop runs, as DeepSpeed must be told it."""

    micro_batch_size: int  # sequences per rank per forward/backward
    grad_accum: int  # micro-batches per optimizer step
    total_steps: int  # optimizer steps of the whole run (the LR schedule's length)


@dataclass(frozen=True)
class Policy:
    """The model being trained, as DeepSpeed holds it."""

    engine: Any  # the DeepSpeed engine around module(model)
    model: torch.nn.Module  # the Hugging Face model inside it
    tokenizer: Any
    zero_stage: int
    context: int | None  # tokens a sequence may hold: the model's context, or the engine's max_model_len if smaller


@dataclass(frozen=True)
class TrainingData:
    """The training examples, the order they are drawn in, and how they become prompts."""

    train: list[Example]
    sampler: GlobalSampler
    style: PromptStyle


@dataclass(frozen=True)
class Evaluators:
    """What scores the policy during training, generating with the run's rollout engine."""

    heldout: HeldOutEvaluator | None  # the agent loop's: eval/ast_accuracy, or eval/episode_pass for multi-turn data
    humaneval: HumanEvalDuringTraining | None  # eval/humaneval_pass@k, when humaneval.every > 0


class Built(NamedTuple):
    """What `build` returns; a loop keeps each piece as its own attribute."""

    policy: Policy
    data: TrainingData
    agent: AgentLoop  # cfg.agent: how examples become rollouts, held-out scores and SFT targets
    rollout: RolloutEngine  # cfg.rollout.engine on the training weights
    evaluators: Evaluators
    start_step: int  # 0, or the step of the checkpoint resumed from


def build_data(cfg: DictConfig, eval_size: int | None) -> tuple[list[Example], list[Example], PromptStyle]:
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


def optimizer_groups(module: torch.nn.Module, extra: list[dict]) -> list[dict]:
    """AdamW groups: ``extra`` (a loss's own parameters with their own settings, see
    `funcall.losses.base.SFTLoss.parameter_groups`) and every other trainable parameter of
    ``module`` in the default group (the optimizer config's lr and weight decay)."""
    taken = {id(p) for group in extra for p in group["params"]}
    rest = [p for p in module.parameters() if p.requires_grad and id(p) not in taken]
    return [{"params": rest}, *extra]


def load_model(cfg: DictConfig, ds: dict, model_path: str | None = None):
    """``(model, tokenizer)`` of ``cfg.model`` (or the folder ``model_path``), sharded as ``ds`` says."""
    source = instantiate(cfg.model, _key="model")
    if model_path:
        source.path = model_path
    model, tokenizer, _ = load_pretrained(source, ds)
    return model, tokenizer


def build_heldout(agent: AgentLoop, held_out: list[Example], context: int | None, tokenizer, style: PromptStyle,
                  run: RunContext, settings) -> HeldOutEvaluator | None:
    """The agent loop's held-out evaluation (at the end always, and every ``eval_every`` steps): AST
    accuracy of single-turn examples, the episode pass rate of multi-turn tasks; None without
    held-out data. A prompt over the context less the answer budget is not run and counts as wrong
    (``eval/not_run``)."""
    if not held_out:
        return None
    return agent.heldout(held_out, tokenizer, style, run.dist, max_new_tokens=settings.eval_max_new_tokens,
                         batch_size=settings.eval_batch_size,
                         prompt_limit=None if context is None else context - settings.eval_max_new_tokens)


def humaneval_limit(cfg: DictConfig, context: int | None) -> int | None:
    """HumanEval's prompt budget during training: the context less its answer budget."""
    node = cfg.get("humaneval") or {}
    return None if context is None else context - int(node.get("max_new_tokens", 512))


def build(cfg: DictConfig, run: RunContext, settings, module: Callable[[torch.nn.Module], torch.nn.Module],
          shape: Shape, param_groups: list[dict] | None = None, model_path: str | None = None) -> Built:
    """The parts of a run (module docstring). ``settings`` is the trainer's `LoopSettings`;
    ``param_groups`` are extra optimizer groups (`optimizer_groups`)."""
    import deepspeed

    train, held_out, style = build_data(cfg, settings.eval_size)
    agent = instantiate(cfg.agent, _key="agent")
    check_run_dir(run.run_dir, settings.resume)
    ds = deepspeed_config(cfg.deepspeed, micro_batch_size=shape.micro_batch_size, grad_accum=shape.grad_accum,
                          max_grad_norm=float(cfg.optim.max_grad_norm), precision=settings.precision)
    model, tokenizer = load_model(cfg, ds, model_path)
    # data of the other kind, or a template that refuses a role the run renders: one line now, not a
    # Jinja traceback mid-run
    agent.check(train, held_out, tokenizer, style)
    wrapped = module(model)
    optimizer = instantiate(cfg.optim.optimizer, _key="optim.optimizer")(optimizer_groups(wrapped, param_groups or []))
    schedule = instantiate(cfg.optim.scheduler, _key="optim.scheduler")
    engine, _, _, _ = deepspeed.initialize(model=wrapped, optimizer=optimizer, config=ds,
                                           lr_scheduler=functools.partial(schedule, total_steps=shape.total_steps))
    rollout = instantiate(cfg.rollout.engine, module=model, tokenizer=tokenizer, ds_engine=engine,
                          _key="rollout.engine")
    start_step, resumed = 0, False
    if settings.resume:
        loaded = checkpoint.load(engine, run.run_dir, run.dist.rank)  # None: no checkpoint yet, a fresh start
        if loaded is not None:
            start_step, resumed = int(loaded.state["step"]), True
            if run.dist.is_main:  # a resume from an older tag than the newest one loses steps: a warning
                log = logging.getLogger("funcall")
                for problem in loaded.skipped:
                    log.warning("checkpoint skipped: %s", problem)
                if loaded.warning:
                    log.warning(loaded.warning)
                (log.warning if loaded.skipped else log.info)(
                    "resuming from checkpoints/%s (step %d) in %s", loaded.tag, start_step, run.run_dir)
    run.log.start(run.config, resume_step=start_step if resumed else None)
    run.bar(settings.max_steps, start_step)
    context = context_length(model, cfg.rollout.engine)
    heldout = build_heldout(agent, held_out, context, tokenizer, style, run, settings)
    policy = Policy(engine=engine, model=model, tokenizer=tokenizer, zero_stage=zero_stage(ds), context=context)
    data = TrainingData(train=train, sampler=GlobalSampler(len(train), seed=int(cfg.seed)), style=style)
    evaluators = Evaluators(heldout=heldout, humaneval=build_humaneval(cfg, tokenizer, run.dist, run.run_dir,
                                                                        humaneval_limit(cfg, context)))
    return Built(policy, data, agent, rollout, evaluators, start_step)
