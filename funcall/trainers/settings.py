"""The settings every training loop has (``conf/trainer/*.yaml``) and the Protocol a loop meets.

`LoopSettings` is a dataclass the ``trainer`` group's ``_target_`` extends (`funcall.trainers.sft.SFTTrainer`,
`funcall.trainers.rl.RLTrainer`): Hydra instantiates it straight from the YAML, so a key the YAML
has and the dataclass lacks fails at start-up, not mid-run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from omegaconf import DictConfig

if TYPE_CHECKING:
    from funcall.trainers.run_context import RunContext


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
