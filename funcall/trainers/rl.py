"""GRPO-family RL on DeepSpeed: ``trainer=rl``, the `Trainer` that ``conf/trainer/rl.yaml`` instantiates.

`RLTrainer` is its settings (`funcall.trainers.rl_settings.RLSettings`: typed keys, `check`, the
batch shape) and `fit`, which builds one `funcall.trainers.rl_run.RLRun`: the run's parts, built
once, and ``step(n)`` for each step (its module docstring walks one step).
"""
from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from funcall.trainers.rl_run import RLRun
from funcall.trainers.rl_settings import RLSettings
from funcall.trainers.run_context import RunContext


@dataclass
class RLTrainer(RLSettings):
    def fit(self, cfg: DictConfig, run: RunContext) -> dict:
        return RLRun(self, cfg, run).train()
