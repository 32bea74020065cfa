"""The typed data one RL step passes between its phases: a `Trajectory` and its `Rewards`.

An RL step is four functions in a line (`funcall.trainers.rl`):

    agent.collect(engine, examples, ...)     -> Trajectory   (funcall.agents)
    score(trajectory, reward, examples)      -> Rewards      (funcall.trainers.scoring)
    advantage(rewards, entropy, masks)       -> [N] or [N, C] (funcall.advantages)
    update(engine, trajectory, adv, loss)    -> metrics      (funcall.trainers.rl_update)

Shapes, on one rank: N = prompts x G rows (the G samples of a prompt are consecutive rows, so
``view(-1, G)`` groups them), C = the longest completion of the step. Tensors are on the CPU,
float32, 0 beyond each completion's length. A multi-turn row's "completion" is the whole episode
after the prompt (`funcall.agents.multi_turn`): the steps as sampled and the tool results and
user turns between them, with ``completion_mask`` 1 on the sampled ids only. Whatever an agent
loop knows of a row beyond its tokens (a multi-turn row's `funcall.envs.episode.EpisodeResult`)
travels in ``columns``, which the rewards receive as keyword columns, TRL's way.

How it differs from the obvious version: the "old" log-probs and entropies come straight from
generation when the engine reports them (no extra forward pass), and the token ids are kept
exactly as sampled (never re-tokenised from text), so the update trains on the sequence the
policy produced.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Trajectory:
    """One rank's rollouts of one step (see the module docstring for N, C, G)."""

    prompt_ids: list[list[int]]  # [N] each row's prompt (a prompt repeated for its G rows)
    completion_ids: list[list[int]]  # [N] as sampled, ending with EOS when the policy stopped
    texts: list[str]  # [N] the completions decoded (special tokens dropped)
    completion_mask: torch.Tensor  # [N, C] 1 on sampled tokens
    think_mask: torch.Tensor  # [N, C] 1 on tokens inside the <think> content
    old_logps: torch.Tensor | None  # [N, C] log-probs of the sampled tokens under the policy that sampled them (the ratio's denominator)
    entropies: torch.Tensor | None  # [N, C] that policy's entropy at each token
    group: int  # G, samples per prompt
    ref_logps: torch.Tensor | None = None  # [N, C] under the frozen reference (filled when the loss has a KL term)
    rollout_logps: torch.Tensor | None = None  # [N, C] as the engine reported them (None if it cannot); = old_logps unless recomputed
    columns: dict[str, list[Any]] = field(default_factory=dict)  # name -> [N]: what the agent loop adds for the rewards (multi-turn: "episode")

    @property
    def rows(self) -> int:
        return len(self.completion_ids)

    @property
    def width(self) -> int:
        return self.completion_mask.shape[1]


@dataclass
class Rewards:
    """What the reward said of each row of a `Trajectory`."""

    total: torch.Tensor  # [N] the reward trained on (None from the reward counts as 0)
    raw: list[float | None]  # [N] as the reward function returned them
    components: dict[str, list[float | None]] = field(default_factory=dict)  # [N] per component of a mix


def padded(rows: list[list[float]], width: int) -> torch.Tensor:
    """``[len(rows), width]``, each row left-aligned and zero-filled."""
    out = torch.zeros((len(rows), width))
    for i, values in enumerate(rows):
        if values:
            out[i, : len(values)] = torch.tensor(values, dtype=torch.float32)
    return out
