"""The RL loop's settings (``conf/trainer/rl.yaml``), their checks, the batch shape and the prompt budget.

`RLSettings` extends `funcall.trainers.settings.LoopSettings` with the RL keys. `check` reads every
value the loop will, before anything is loaded or written (`funcall.trainers.checks`); `shape`
derives the per-rank batch shape DeepSpeed is told, so the config cannot disagree with the loop;
`prompt_budget` is the prompt length a rollout may start from. The loop is
`funcall.trainers.rl.RLTrainer` (these settings plus ``fit``).
"""
from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from funcall.data.length_budget import LengthBudget
from funcall.trainers.checks import check_loop, check_model, check_optim, check_part, check_rollout, fail, number
from funcall.trainers.ds_config import cpu_autocast
from funcall.trainers.parse_alarm import ALARM_KEYS
from funcall.trainers.settings import LoopSettings
from funcall.utils.instantiate import instantiate


@dataclass
class RLSettings(LoopSettings):
    """``conf/trainer/rl.yaml``'s keys, typed; `check` reads every one before anything is loaded."""

    eval_at_start: bool = True
    prompts_per_step: int = 8
    ppo_epochs: int = 1
    mini_batches: int = 1
    micro_batch_size: int | None = None
    table_every: int = 50
    warm_start: dict | None = None
    logprob_batch_size: int = 32
    max_prompt_length: int | None = None  # None: the model's context less rollout.max_new_tokens
    recompute_logprobs: bool = False
    dynamic_sampling: bool = False
    max_resample: int = 4
    unparseable_alarm: dict | None = None  # {steps, share}: warn when rollout/unparseable >= share for steps in a row

    # -- set-up -------------------------------------------------------------------------------
    def shape(self, group: int, world: int) -> tuple[int, int, int]:
        """(prompts per rank, rollouts per micro-batch, micro-batches per optimizer step)."""
        if self.prompts_per_step % world:
            fail(f"trainer.prompts_per_step={self.prompts_per_step} must divide by the {world} ranks")
        prompts = self.prompts_per_step // world
        rollouts = prompts * group
        if rollouts % self.mini_batches:
            fail(f"trainer.mini_batches={self.mini_batches} must divide the {rollouts} rollouts per rank "
                 f"(trainer.prompts_per_step / ranks x rollout.num_generations)")
        mini = rollouts // self.mini_batches
        micro = self.micro_batch_size or mini
        if mini % micro:
            fail(f"trainer.micro_batch_size={micro} must divide the mini-batch of {mini} rollouts per rank "
                 f"(trainer.prompts_per_step / ranks x rollout.num_generations / trainer.mini_batches)")
        return prompts, micro, mini // micro

    def check(self, cfg: DictConfig, world_size: int) -> None:
        """Every value this loop reads, before anything is loaded (`funcall.trainers.checks`)."""
        check_loop(self)
        check_optim(cfg.optim)
        check_model(cfg.model)
        check_rollout(cfg.rollout, instantiate(cfg.advantage, _key="advantage").min_group)
        check_part(cfg.agent, "agent")
        check_part(cfg.loss, "loss")  # e.g. loss.max_len, required by loss.aggregation=seq_mean_token_sum_norm
        for key in ("prompts_per_step", "ppo_epochs", "mini_batches", "logprob_batch_size"):
            number(f"trainer.{key}", getattr(self, key), low=1, integer=True)
        number("trainer.micro_batch_size", self.micro_batch_size, low=1, integer=True, nullable=True)
        number("trainer.max_prompt_length", self.max_prompt_length, low=1, integer=True, nullable=True)
        number("trainer.max_resample", self.max_resample, low=0, integer=True)
        number("trainer.table_every", self.table_every, low=0, integer=True)
        self.check_alarm()
        self.shape(int(cfg.rollout.num_generations), world_size)
        if self.precision == "bf16" and cpu_autocast("bf16"):
            fail("trainer.precision=bf16 on a CPU (bf16 autocast) is implemented for SFT; RL on a CPU runs "
                 "fp32 (trainer.precision=auto or fp32)")
        if self.recompute_logprobs and instantiate(cfg.loss, _key="loss").corrects_rollout:
            fail("loss.is_correction=tis weighs the engine's log-probs against the trainer's: it needs an "
                 "engine that reports them (trainer.recompute_logprobs=false)")

    def check_alarm(self) -> None:
        """``trainer.unparseable_alarm``: null, or ``steps`` >= 0 (0: off) and ``share`` in (0, 1]."""
        alarm = self.unparseable_alarm
        if alarm is None:
            return
        unknown = sorted(set(alarm) - set(ALARM_KEYS))
        if unknown or not all(k in alarm for k in ALARM_KEYS):
            fail(f"trainer.unparseable_alarm={dict(alarm)}: must have exactly the keys {', '.join(ALARM_KEYS)} (or be null)")
        number("trainer.unparseable_alarm.steps", alarm["steps"], low=0, integer=True)
        number("trainer.unparseable_alarm.share", alarm["share"], low=0, high=1, low_open=True)

    def prompt_budget(self, context: int | None, max_new_tokens: int) -> LengthBudget:
        """Prompt tokens a rollout may start from: ``trainer.max_prompt_length``, by default the
        model's context less the completion budget (``rollout.max_new_tokens``)."""
        limit = self.max_prompt_length
        if context is not None and limit is not None and limit + max_new_tokens > context:
            fail(f"trainer.max_prompt_length={limit} + rollout.max_new_tokens={max_new_tokens} exceeds the model's "
                 f"context of {context} tokens")
        if limit is None and context is not None:
            limit = context - max_new_tokens
            if limit < 1:
                fail(f"rollout.max_new_tokens={max_new_tokens} leaves no room for a prompt in the model's context of {context}")
        note = None if self.max_prompt_length else f"the model's context {context} less rollout.max_new_tokens"
        return LengthBudget(limit, "trainer.max_prompt_length", self.overlong, what="prompt", note=note)
