"""Config checks a run makes before it loads, launches or writes anything.

A bad value used to fail deep, late or not at all: ``optim.optimizer.lr=-1e-3`` as a 30-line
torch traceback, ``rollout.temperature=-1`` as a transformers traceback a minute in (after the
first evaluation had written the run folder, which then refused a rerun),
``rollout.num_generations=1`` as a GRPO run that learnt nothing to its end. Each check here
raises a one-line `ConfigError` naming the key, with ``every_rank=True``: every rank of a
``torchrun`` launch finds the same fault in the same config, so every rank exits 2 and rank 0
alone prints the line (`funcall.utils.errors`).

The trainers' ``check(cfg, world_size)`` call these with their own settings; what only a built
part can know (a model's context against the prompt budget) is checked where that part is built.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig

from funcall.models.load import check_model_path
from funcall.utils.errors import ConfigError
from funcall.utils.instantiate import instantiate


def fail(message: str) -> None:
    raise ConfigError(message, every_rank=True)


def number(key: str, value: Any, *, low: float | None = None, high: float | None = None, low_open: bool = False,
           integer: bool = False, nullable: bool = False) -> None:
    """``value`` is a finite number (an int where ``integer``) within ``[low, high]`` (``(low, high]``
    with ``low_open``); None passes where ``nullable``."""
    if value is None and nullable:
        return
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        fail(f"{key}={value!r}: must be {kind}" + (" or null" if nullable else ""))
    if not math.isfinite(value):
        fail(f"{key}={value}: must be finite")
    if low is not None and (value <= low if low_open else value < low):
        fail(f"{key}={value}: must be {'>' if low_open else '>='} {low:g}" + (f" and <= {high:g}" if high is not None else ""))
    if high is not None and value > high:
        fail(f"{key}={value}: must be <= {high:g}")


def choice(key: str, value: Any, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        fail(f"{key}={value!r}: must be one of {', '.join(allowed)}")


def check_model(model: DictConfig) -> None:
    if model.get("path"):
        try:
            check_model_path(str(model.path))
        except ConfigError as exc:
            fail(str(exc))


def check_optim(optim: DictConfig) -> None:
    opt = optim.optimizer
    number("optim.optimizer.lr", opt.get("lr"), low=0, low_open=True)
    if "weight_decay" in opt:
        number("optim.optimizer.weight_decay", opt.weight_decay, low=0)
    if "eps" in opt:
        number("optim.optimizer.eps", opt.eps, low=0)
    for i, beta in enumerate(opt.get("betas") or []):
        number(f"optim.optimizer.betas[{i}]", beta, low=0, high=1)
    number("optim.max_grad_norm", optim.get("max_grad_norm", 0.0), low=0)
    sched = optim.get("scheduler") or {}
    if "warmup_ratio" in sched:
        number("optim.scheduler.warmup_ratio", sched.warmup_ratio, low=0, high=1)
    if "warmup_steps" in sched:
        number("optim.scheduler.warmup_steps", sched.warmup_steps, low=0, integer=True, nullable=True)


def check_loop(settings) -> None:
    """The keys every training loop has (`funcall.trainers.settings.LoopSettings`)."""
    s = settings
    number("trainer.max_steps", s.max_steps, low=0, integer=True)
    number("trainer.max_length", s.max_length, low=1, integer=True)
    for key in ("log_every", "eval_max_new_tokens", "eval_batch_size"):
        number(f"trainer.{key}", getattr(s, key), low=1, integer=True)
    for key in ("save_every", "eval_every", "keep_checkpoints"):  # 0: none / never / keep them all
        number(f"trainer.{key}", getattr(s, key), low=0, integer=True)
    number("trainer.eval_size", s.eval_size, low=0, integer=True, nullable=True)  # 0: no held-out evaluation
    number("trainer.max_wall_s", s.max_wall_s, low=0, low_open=True, nullable=True)
    choice("trainer.precision", s.precision, ("auto", "bf16", "fp32"))
    choice("trainer.overlong", s.overlong, ("error", "skip"))
    number("trainer.logit_chunk", s.logit_chunk, low=1, integer=True, nullable=True)


def check_rollout(rollout: DictConfig, min_group: int) -> None:
    """Sampling settings of an RL run; ``min_group``: the advantage's smallest useful group."""
    number("rollout.num_generations", rollout.num_generations, low=1, integer=True)
    if rollout.num_generations < min_group:
        fail(f"rollout.num_generations={rollout.num_generations}: the advantage (advantage=...) compares each "
             f"completion with the others of its prompt, so a group needs at least {min_group} (with 1 every "
             f"advantage is 0 and nothing is learnt)")
    number("rollout.temperature", rollout.temperature, low=0, low_open=True)
    number("rollout.top_p", rollout.top_p, low=0, high=1, low_open=True)
    number("rollout.max_new_tokens", rollout.max_new_tokens, low=1, integer=True)


def check_part(node: DictConfig, key: str) -> None:
    """A part whose constructor checks its own settings (``agent``, ``loss``): built once here, so a
    bad value stops every rank before anything loads."""
    try:
        instantiate(node, _key=key)
    except ConfigError as exc:
        fail(str(exc))
