"""DAPO's dynamic sampling: keep only the groups that teach something, draw more prompts until the
step has enough (arXiv 2503.14476, section 3.2).

A group whose G rewards are all equal has advantage 0 everywhere: it adds nothing to the gradient
but still costs its share of the update and dilutes the token mean. With
``trainer.dynamic_sampling=true`` the RL step samples its prompts in rounds: after each round the
groups with non-zero reward spread are kept, and while any rank has fewer than its share of
``trainer.prompts_per_step`` such groups, every rank samples another round of fresh prompts, at
most ``trainer.max_resample`` more rounds. The step then trains on the first informative groups;
if the bound was reached first, uninformative groups fill the rest (each rank must train on the
same number of rows, and they change nothing).

How it differs from DAPO's description: rounds are collective (all ranks sample a round whenever
one rank still needs groups), because under ``rollout.engine.gather=false`` generation is in
lock-step; and the extra prompts come from the same seeded stream as every other prompt
(`funcall.data.sampler`, one slice per round), so a resumed run samples exactly the same ones.
"""
from __future__ import annotations

import torch

from funcall.rollout.trajectory import Rewards, Trajectory, padded


def informative_groups(rewards: torch.Tensor, group: int) -> list[bool]:
    """Per group of ``group`` consecutive rewards: are they not all equal?"""
    g = rewards.view(-1, group)
    return [bool(row.max() > row.min()) for row in g]


def select_groups(rounds: list[tuple[Trajectory, Rewards, list]], wanted: int) -> tuple[Trajectory, Rewards, list, dict]:
    """The first ``wanted`` informative groups over ``rounds`` (each ``(trajectory, rewards,
    examples)``), topped up with uninformative ones, as one trajectory; plus the step's
    ``frac_zero_std_groups`` (before filtering) and ``rollout/kept_informative``."""
    picked, spare = [], []
    total = zero = 0
    for r, (traj, rewards, _) in enumerate(rounds):
        for g, ok in enumerate(informative_groups(rewards.total, traj.group)):
            total += 1
            zero += not ok
            (picked if ok else spare).append((r, g))
    informative = min(len(picked), wanted)
    chosen = (picked + spare)[:wanted]
    return (*concat_groups(rounds, chosen), {"frac_zero_std_groups": zero / max(total, 1),
                                              "rollout/kept_informative": informative / max(wanted, 1)})


def concat_groups(rounds: list[tuple[Trajectory, Rewards, list]], chosen: list[tuple[int, int]]):
    """One `Trajectory`, its `Rewards` and examples from groups ``(round, group index)``."""
    group = rounds[0][0].group
    rows = [(r, g * group + k) for r, g in chosen for k in range(group)]
    width = max(rounds[r][0].width for r, _ in rows)

    def stack(of) -> torch.Tensor | None:
        """``of(trajectory)`` (an ``[N, C]`` tensor or None) of every chosen row, re-padded."""
        if of(rounds[0][0]) is None:
            return None
        return padded([of(rounds[r][0])[i].tolist() for r, i in rows], width)

    traj = Trajectory(
        prompt_ids=[rounds[r][0].prompt_ids[i] for r, i in rows],
        completion_ids=[rounds[r][0].completion_ids[i] for r, i in rows],
        texts=[rounds[r][0].texts[i] for r, i in rows],
        completion_mask=stack(lambda t: t.completion_mask), think_mask=stack(lambda t: t.think_mask),
        old_logps=stack(lambda t: t.old_logps), entropies=stack(lambda t: t.entropies), group=group,
        rollout_logps=stack(lambda t: t.rollout_logps),
        columns={name: [rounds[r][0].columns[name][i] for r, i in rows] for name in rounds[0][0].columns})
    names = rounds[0][1].components.keys()
    rewards = Rewards(total=torch.stack([rounds[r][1].total[i] for r, i in rows]),
                      raw=[rounds[r][1].raw[i] for r, i in rows],
                      components={n: [rounds[r][1].components[n][i] for r, i in rows] for n in names})
    examples = [rounds[r][2][g] for r, g in chosen]
    return traj, rewards, examples
