"""The update phase of an RL step: clipped policy-gradient optimizer steps over a `Trajectory`.

``trainer.ppo_epochs`` passes over the rollout, each cut into ``trainer.mini_batches`` optimizer
steps, each of those into length-bucketed micro-batches of ``trainer.micro_batch_size`` rows
(`funcall.trainers.rollout_layout.micro_batches`), forward + loss + ``engine.backward`` per micro-batch
and ``engine.step`` at the end of each mini-batch.

How it differs from the obvious loop:
* The loss of a mini-batch is exact, not a mean of micro-batch means: before its micro-batches
  run, the mini-batch's completion tokens and completions are summed over all ranks
  (`funcall.losses.policy.BatchSize`, one all-reduce), and each micro-batch contributes its sum
  divided by those totals. DeepSpeed averages gradients over ranks, so each share is multiplied
  by the world size, and it is passed with ``scale_wrt_gas=False`` (DeepSpeed would otherwise
  divide by the number of micro-steps a second time). One optimizer step therefore moves the
  weights the same way for any micro-batch size, length bucketing or number of ranks (tested).
* Every rank makes the same collective calls in the same order whatever its completions look
  like: the same number of micro-batches (ranks hold equal row counts), the same number of
  forwards in each (see `funcall.trainers.policy_forward.token_logps_and_entropy`), one finiteness
  check per micro-batch, one metrics reduction at the end.
* A non-finite loss on any rank stops the run on every rank before the backward pass.
"""
from __future__ import annotations

import torch

from funcall.dist import DistInfo, all_reduce_sum, sum_over_ranks
from funcall.losses.base import PolicyLoss
from funcall.losses.policy import BatchSize
from funcall.rollout.trajectory import Trajectory
from funcall.trainers.optimizer_step import optimizer_step
from funcall.trainers.rollout_layout import micro_batches
from funcall.utils.errors import TrainingDiverged


def mini_batch_rows(n: int, mini_batches: int, step: int, epoch: int) -> list[torch.Tensor]:
    """The rows of each optimizer step of one pass: all rows in order when there is one mini-batch,
    else a permutation seeded by (step, epoch), the same on every rank, cut into equal parts."""
    if mini_batches == 1:
        return [torch.arange(n)]
    gen = torch.Generator().manual_seed(step * 1_000_003 + epoch)
    return list(torch.randperm(n, generator=gen).chunk(mini_batches))


def _rows(adv: torch.Tensor, rows: torch.Tensor, width: int) -> torch.Tensor:
    """The advantages of ``rows``: per completion ``[n]`` or per token ``[n, width]``."""
    return adv[rows] if adv.dim() == 1 else adv[rows, :width]


def update(engine, trajectory: Trajectory, advantages: torch.Tensor, loss_fn: PolicyLoss, dist: DistInfo, *,
           micro_batch_size: int, mini_batches: int, ppo_epochs: int, step: int, pad_id: int,
           on_diverged: str = "") -> dict[str, float]:
    """``ppo_epochs x mini_batches`` optimizer steps; returns the metrics averaged over them
    (each already summed over ranks) and ``grad_norm``, the mean of the steps' gradient norms.

    DeepSpeed's gradient accumulation must span exactly one mini-batch's micro-batches
    (``gradient_accumulation_steps`` = mini-batch rows / micro-batch rows)."""
    sums: dict[str, float] = {}
    norms: list[float] = []
    old, ref, cmask = trajectory.old_logps, trajectory.ref_logps, trajectory.completion_mask
    gen = trajectory.rollout_logps
    updates = 0
    for epoch in range(ppo_epochs):
        for chunk in mini_batch_rows(trajectory.rows, mini_batches, step, epoch):
            tokens, seqs = all_reduce_sum([float(cmask[chunk].sum()), float(len(chunk))])
            size = BatchSize(tokens=tokens, sequences=seqs)
            micros = micro_batches(trajectory.prompt_ids, trajectory.completion_ids, chunk, micro_batch_size, pad_id,
                                   trajectory.group)
            for rows, sub in micros:
                c = sub.completion_width
                logps, ent = engine(sub, with_entropy=loss_fn.uses_entropy)
                # the trajectory's mask, not the batch's: a multi-turn row's tool and user ids are context
                share, metrics = loss_fn(logps, old[rows, :c], _rows(advantages, rows, c), cmask[rows, :c],
                                         None if ref is None else ref[rows, :c], ent, size=size,
                                         rollout_logps=None if gen is None else gen[rows, :c])
                if all_reduce_sum([0.0 if torch.isfinite(share) else 1.0])[0] > 0:
                    raise TrainingDiverged(f"policy loss is {share.item()} at step {step + 1}: stopping. {on_diverged}")
                engine.backward(share * dist.world_size, scale_wrt_gas=False)
                norm = optimizer_step(engine)
                if norm is not None:
                    norms.append(norm)
                for key, value in metrics.items():
                    sums[key] = sums.get(key, 0.0) + value
            updates += 1
    merged = {k: v / max(updates, 1) for k, v in sum_over_ranks(sums).items()}
    if norms:
        merged["grad_norm"] = sum(norms) / len(norms)
    return merged
