"""Scoring a step's rollouts: the reward over a `Trajectory` (TRL's signature) and the log-prob gap.

`score` hands the reward TRL's columns (``prompts``, ``completions``) and, per row, the example's
``tools``, ``possible_answer`` (its ground truth) and ``category``, plus whatever the agent loop
put in ``trajectory.columns`` (multi-turn: ``episode``); `logprob_gap` measures how far the
engine's log-probs are from the trainer's.
"""
from __future__ import annotations

import torch

from funcall.rollout.trajectory import Rewards, Trajectory


def logprob_gap(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean absolute difference of two ``[N, C]`` log-prob tensors over the ``mask``ed tokens
    (``logprob/gen_vs_train_abs``: the engine's log-probs against the trainer's)."""
    m = mask.float()
    return float(((a - b).abs() * m).sum() / m.sum().clamp(min=1))


def score(trajectory: Trajectory, reward, examples: list, prompt_texts: list[str]) -> Rewards:
    """Apply a reward (TRL's signature) to every row; ``examples`` are the step's prompts' examples.
    The agent loop's own columns (``trajectory.columns``) are passed too.

    A mix of rewards reports its components through ``components()`` (`funcall.rewards.mix`)."""
    g = trajectory.group
    per = lambda values: [v for v in values for _ in range(g)]  # noqa: E731
    columns = dict(tools=per([e.tools for e in examples]), possible_answer=per([e.ground_truth() for e in examples]),
                   category=per([e.category for e in examples]), **trajectory.columns)
    raw = list(reward(per(prompt_texts), trajectory.texts, **columns))
    total = torch.tensor([0.0 if r is None else float(r) for r in raw])
    return Rewards(total=total, raw=raw, components=reward_components(reward))


def reward_components(reward) -> dict[str, list[float | None]]:
    """The latest per-component values of a mix reward; {} for a single reward."""
    from funcall.rewards.mix import MixReward

    return dict(reward.last_components) if isinstance(reward, MixReward) else {}
