"""The advantage-estimator contract.

An estimator sees one rollout batch laid out by group: ``rewards`` is ``[groups, G]`` (G
completions of the same prompt per row). For the entropy-shaped estimator it also gets the
rollout policy's per-token entropy ``token_entropy`` (``[groups * G, T]``, detached) and two
masks of the same shape: ``span_mask`` (the tokens whose entropy counts: the ``<think>`` span or
the whole completion) and ``completion_mask`` (every scored completion token). It returns the
advantages, ``[groups * G]`` (one per completion) or ``[groups * G, T]`` (one per token), and a
dict of metrics.
"""
from __future__ import annotations

from typing import Protocol

import torch


class AdvantageEstimator(Protocol):
    min_group: int  # the smallest group (rollout.num_generations) it can learn from: 2 for group-relative ones

    def __call__(self, rewards: torch.Tensor, *, token_entropy: torch.Tensor | None = None,
                 span_mask: torch.Tensor | None = None, completion_mask: torch.Tensor | None = None,
                 ) -> tuple[torch.Tensor, dict[str, float]]:
        ...


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    mask = mask.to(values.dtype)
    if dim is None:
        return (values * mask).sum() / mask.sum().clamp(min=1)
    return (values * mask).sum(dim) / mask.sum(dim).clamp(min=1)
