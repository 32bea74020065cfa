"""FunReason's Self-Refinement Multiscale Loss (SRML), arXiv 2505.20192.

    L = alpha * L_think + (1 - alpha) * L_result

with L_think and L_result the mean token cross-entropy over the reasoning span (``<think>``
... ``</think>``) and over the call span (the calls and the end of turn). Plain CE is the special
case alpha = (reasoning tokens) / (all target tokens); SRML lets the short call span weigh as
much as the reasoning even though it has ten times fewer tokens. Span means are taken over the
whole batch by default (``span_mean="batch"``) or per sequence first (``"sample"``).

alpha is fixed, or learnable (``learnable=True``). Learned by plain gradient descent on L,
alpha would run to whichever span has the lower loss and stay there (dL/dalpha = L_think -
L_result never changes sign for long), switching the other span off. We keep it from collapsing
in two ways:
  * alpha = lo + (hi - lo) * sigmoid(theta): it never leaves [``alpha_min``, ``alpha_max``];
  * an entropy bonus ``- alpha_reg * H(alpha)``, H the binary entropy, is added to the loss. Its
    minimum sits at alpha* = sigmoid((L_result - L_think) / alpha_reg) (before the bounds): a
    smooth weighting that still leans to the span with lower loss, but by an amount set by the
    loss gap relative to ``alpha_reg``, never all the way. ``alpha_reg`` large keeps alpha near
    0.5; small lets it follow the gap.
theta starts at the value giving ``alpha_init`` (FunReason's 0.7). Because theta is a parameter
of this module, the trainer puts the loss module inside the DeepSpeed engine next to the model,
so alpha is optimised, all-reduced and checkpointed like any weight, but in an optimizer group
of its own with its own learning rate ``alpha_lr`` (`parameter_groups`): at a model's learning
rate (4e-5 for a 7B SFT) one scalar would take tens of thousands of steps to move, i.e. it would
stay frozen at ``alpha_init``. The run's schedule (warm-up, decay) scales it like the model's.
``srml/alpha`` is logged every step.

Span means are over the whole optimizer step (`funcall.losses.base.SpanCounts`); the entropy
term is a per-step constant, added as 1/``parts`` of itself by each of the step's loss calls.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from funcall.losses.base import SpanCounts, span_means


class SRMLLoss(nn.Module):
    def __init__(self, alpha: float = 0.5, learnable: bool = False, alpha_init: float = 0.7,
                 alpha_reg: float = 1.0, alpha_min: float = 0.05, alpha_max: float = 0.95,
                 span_mean: str = "batch", alpha_lr: float = 1e-2):
        super().__init__()
        if span_mean not in ("batch", "sample"):
            raise ValueError(f"loss.span_mean must be 'batch' or 'sample', got {span_mean!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"loss.alpha must be in [0, 1], got {alpha}")
        self.learnable = learnable
        self.fixed_alpha = alpha
        self.alpha_reg = alpha_reg
        self.lo, self.hi = alpha_min, alpha_max
        self.per_sample = span_mean == "sample"
        if alpha_lr <= 0:
            raise ValueError(f"loss.alpha_lr must be > 0, got {alpha_lr}")
        self.alpha_lr = float(alpha_lr)
        if learnable:
            if not alpha_min < alpha_init < alpha_max:
                raise ValueError(f"loss.alpha_init must lie in ({alpha_min}, {alpha_max}), got {alpha_init}")
            u = (alpha_init - alpha_min) / (alpha_max - alpha_min)
            # shape [1], not a 0-dim scalar: DeepSpeed's broadcast views parameters as bytes
            self.theta = nn.Parameter(torch.tensor([math.log(u / (1 - u))]))

    def alpha(self) -> torch.Tensor:
        if not self.learnable:
            return torch.tensor(self.fixed_alpha)
        return self.lo + (self.hi - self.lo) * torch.sigmoid(self.theta[0])

    def parameter_groups(self) -> list[dict]:
        """theta's own optimizer group (see the module docstring); [] when alpha is fixed."""
        return [{"params": [self.theta], "lr": self.alpha_lr, "weight_decay": 0.0}] if self.learnable else []

    def forward(self, token_nll: torch.Tensor, spans: torch.Tensor, counts: SpanCounts | None = None,
                ) -> tuple[torch.Tensor, dict[str, float]]:
        counts = counts or SpanCounts.of(spans)
        think, result = span_means(token_nll, spans, per_sample=self.per_sample, counts=counts)
        alpha = self.alpha().to(token_nll.dtype)
        weighted = alpha * think + (1 - alpha) * result
        share = 1.0 / counts.parts  # of per-step values (alpha, the entropy term)
        metrics = {"loss": weighted.item(), "loss/think": think.item(), "loss/result": result.item(),
                   "srml/alpha": alpha.item() * share}
        if not (self.learnable and self.alpha_reg > 0):
            return weighted, metrics
        a = alpha.clamp(1e-6, 1 - 1e-6)
        entropy = -(a * a.log() + (1 - a) * (1 - a).log())
        metrics["srml/alpha_entropy"] = entropy.item() * share
        return weighted - self.alpha_reg * entropy * share, metrics
