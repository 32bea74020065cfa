"""The agent-loop Protocol: everything in which single-turn and multi-turn runs differ, in one place.

The trainers never ask what kind of data they hold. A run's `AgentLoop` (``agent=single_turn``
or ``agent=multi_turn``, built once from config) is asked instead: which prompt ids an example
starts from (the length budget draws on them), how a step's rollouts are collected into a
`funcall.rollout.trajectory.Trajectory` (with the per-row columns its rewards read), which
metrics describe them, which held-out evaluator scores the run, and how an example becomes an
SFT target. This is verl's agent loop idea (single-turn and tool-turn rollouts as two plug-ins
of one interface) carried past collection to everything else that differed: before, the mode
was guessed from the first example and dispatched by branches in four files.

The loop checks its data instead of guessing: `AgentLoop.check` stops the run with one line when
the data source's examples are of the other kind, or the chat template refuses a role the loop
renders (`funcall.data.template_roles`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from funcall.data.prompts import PromptStyle
from funcall.data.schema import Example
from funcall.data.tokenize import Encoded
from funcall.dist import DistInfo
from funcall.rollout.engine import RolloutEngine
from funcall.rollout.trajectory import Trajectory


@dataclass(frozen=True)
class Sampling:
    """How a step samples: ``rollout.*`` and whether the engine's statistics are used."""

    group: int  # rollout.num_generations: samples per prompt
    max_new_tokens: int  # rollout.max_new_tokens: tokens per completion (per step, multi-turn)
    temperature: float
    top_p: float
    with_stats: bool  # read the old log-probs and entropies off generation (not trainer.recompute_logprobs)


class HeldOutEvaluator(Protocol):
    def __call__(self, engine: RolloutEngine) -> tuple[dict[str, float], list[dict]]:
        """Score this rank's share of the held-out examples with ``engine``; the metrics (summed
        over ranks: collective) and this rank's samples for the table."""
        ...


class AgentLoop(Protocol):
    def check(self, train: list[Example], held_out: list[Example], tokenizer, style: PromptStyle) -> None:
        """Raise a one-line `funcall.utils.errors.ConfigError` if the data is of the other kind
        or the chat template refuses a role this loop renders."""
        ...

    def prompt_ids(self, tokenizer, example: Example, style: PromptStyle) -> list[int]:
        """The ids the example's rollout starts from (held to the prompt budget)."""
        ...

    def collect(self, engine: RolloutEngine, tokenizer, examples: list[Example], prompts: list[list[int]],
                style: PromptStyle, sampling: Sampling, context_length: int | None) -> Trajectory:
        """``sampling.group`` rollouts per example, from its ``prompts`` ids (`prompt_ids`), one
        `Trajectory` (G consecutive rows per example); collective over ranks (every rank calls it
        once per round)."""
        ...

    def metrics(self, trajectory: Trajectory, answer_format: str) -> dict[str, float]:
        """This rank's loop-specific metrics of the step: ``rollout/unparseable`` and
        ``rollout/no_call_frac`` always (`funcall.calls.parse_stats`), ``episode/*`` for episodes;
        they override the generic rollout metrics of the same name."""
        ...

    def heldout(self, examples: list[Example], tokenizer, style: PromptStyle, dist: DistInfo, *,
                max_new_tokens: int, batch_size: int, prompt_limit: int | None) -> HeldOutEvaluator:
        """The evaluator of the held-out examples during training."""
        ...

    def encode_sft(self, tokenizer, example: Example, style: PromptStyle, max_length: int) -> Encoded:
        """The example as an SFT sequence with its span labels."""
        ...

    def close(self) -> None:
        """Release what collection holds for the run (the environments' child process)."""
        ...
