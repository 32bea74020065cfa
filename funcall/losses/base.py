"""The contract of a supervised loss: per-token NLL and span labels in, ``(loss, metrics)`` out.

The trainer computes ``token_nll`` (``[batch, time]``, 0 where there is no target) once from the
logits; losses only decide how to average it. That keeps them small, exact to unit-test on
hand-made tensors, and free of model details. ``spans`` holds `funcall.data.tokenize` labels
(PROMPT, THINK, CALL) for the same positions.
"""
from __future__ import annotations

from typing import Protocol

import torch

from funcall.data.spans import CALL, THINK


class SFTLoss(Protocol):
    def __call__(self, token_nll: torch.Tensor, spans: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        ...


def span_means(token_nll: torch.Tensor, spans: torch.Tensor, per_sample: bool = False):
    """Mean NLL over reasoning tokens and over call tokens (0 for a span with no tokens).

    ``per_sample`` averages within each sequence first, then over the sequences that have the
    span; otherwise every token of the batch counts once.
    """
    out = []
    for label in (THINK, CALL):
        mask = (spans == label).to(token_nll.dtype)
        if per_sample:
            count = mask.sum(dim=1)
            has = count > 0
            per_seq = (token_nll * mask).sum(dim=1) / count.clamp(min=1)
            out.append(per_seq[has].mean() if has.any() else token_nll.sum() * 0)
        else:
            out.append((token_nll * mask).sum() / mask.sum().clamp(min=1))
    return out[0], out[1]
