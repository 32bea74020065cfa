"""Plain supervised fine-tuning: token-mean cross-entropy over the whole target.

Every target token counts once, so the reasoning span, usually ten times longer than the call,
dominates the loss: exactly what FunReason's SRML corrects (`funcall.losses.srml`). The per-span
means are still reported, so CE and SRML runs plot on the same axes. The mean is over the whole
optimizer step (`funcall.losses.base.SpanCounts`), not over one micro-batch.
"""
from __future__ import annotations

import torch

from funcall.data.spans import PROMPT
from funcall.losses.base import SpanCounts, span_means


class CrossEntropyLoss:
    def __call__(self, token_nll: torch.Tensor, spans: torch.Tensor, counts: SpanCounts | None = None,
                 ) -> tuple[torch.Tensor, dict[str, float]]:
        counts = counts or SpanCounts.of(spans)
        target = (spans != PROMPT).to(token_nll.dtype)
        loss = (token_nll * target).sum() / max(counts.target, 1.0)
        think, result = span_means(token_nll.detach(), spans, counts=counts)
        return loss, {"loss": loss.item(), "loss/think": think.item(), "loss/result": result.item()}

    def parameter_groups(self) -> list[dict]:
        return []
