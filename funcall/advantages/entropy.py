"""Entropy-guided advantages (FunRL / EGPO, arXiv 2508.05118; docs/methods.md, section 1).

    A_i' = A_i + lambda * clip(H_i, -|A_i| / alpha, |A_i| / alpha)

A_i comes from a base estimator (GRPO by default); H_i is the rollout policy's mean token entropy
over the completion's ``<think>`` span (``span="think"``) or the whole completion
(``"completion"``), detached. The bonus enters the advantage, not the loss: exploratory reasoning
on a correct answer is rewarded more, on a wrong answer punished less, and the clip keeps the
bonus within |A_i| / alpha so it can never flip the advantage's sign (for alpha > lambda, or
alpha > 1 with ``placement="inside"``) and a group with equal rewards (A = 0) stays at 0.

The paper leaves two choices open, so both are options:
* ``level="sequence"`` (one H_i per completion; default) or ``"token"``: per token t,
  A_t' = A_i + lambda * clip(H_t, ...) on the span's tokens (0 bonus elsewhere);
* ``placement="outside"`` (lambda * clip(H)) or ``"inside"`` (clip(lambda * H)).
Defaults lambda = 0.4, alpha = 2. ``level="token", placement="inside", span="completion"`` is
arXiv 2506.14758's formula, A_t' = A_t + min(lambda * H_t, |A_t| / alpha) on every completion
token. The span is the estimator's own choice: it is given both masks (``span_mask``, the
``<think>`` content, and ``completion_mask``) and picks one.

Two cases the formula settles without a special case:
* A group of equal rewards: the base estimator sets its A to exactly 0 (`grpo.flat_groups`),
  the bound |A| / alpha is 0, so A' is exactly 0 at every level and placement.
* A completion without ``<think>`` content (an empty span, ``span="think"``): its H_i is 0 (the
  mean over no tokens is taken as 0), so it gets no bonus and keeps its base advantage; at
  ``level="token"`` no token of it is in the span either. The papers define the entropy over the
  chain of thought only, and under their strict reward such a completion fails the format
  (reward 0): imputing an entropy (e.g. the group's mean) would soften the penalty for skipping
  the reasoning, which nothing in the papers supports. ``span="completion"`` is the option that
  scores such completions by their whole completion's entropy.
"""
from __future__ import annotations

import torch

from funcall.advantages.base import masked_mean
from funcall.advantages.grpo import GRPOAdvantage


class EntropyGuidedAdvantage:
    min_group = 2  # relative to the group's mean: a group of one has advantage 0 whatever its reward

    def __init__(self, base: GRPOAdvantage | None = None, coef: float = 0.4, alpha: float = 2.0,
                 level: str = "sequence", span: str = "think", placement: str = "outside"):
        if level not in ("sequence", "token"):
            raise ValueError(f"advantage.level must be 'sequence' or 'token', got {level!r}")
        if span not in ("think", "completion"):
            raise ValueError(f"advantage.span must be 'think' or 'completion', got {span!r}")
        if placement not in ("outside", "inside"):
            raise ValueError(f"advantage.placement must be 'outside' or 'inside', got {placement!r}")
        if alpha <= 0:
            raise ValueError(f"advantage.alpha must be > 0, got {alpha}")
        self.base = base or GRPOAdvantage()
        self.coef, self.alpha = coef, alpha
        self.level, self.span, self.placement = level, span, placement

    def bonus(self, adv: torch.Tensor, entropy: torch.Tensor) -> torch.Tensor:
        bound = adv.abs() / self.alpha
        if self.placement == "outside":
            return self.coef * torch.maximum(torch.minimum(entropy, bound), -bound)
        return torch.maximum(torch.minimum(self.coef * entropy, bound), -bound)

    def __call__(self, rewards: torch.Tensor, *, token_entropy: torch.Tensor | None = None,
                 span_mask: torch.Tensor | None = None, completion_mask: torch.Tensor | None = None,
                 ) -> tuple[torch.Tensor, dict[str, float]]:
        adv, metrics = self.base(rewards)
        if token_entropy is None or span_mask is None:
            raise ValueError("entropy_grpo needs the rollout's token entropies and span mask")
        entropy = token_entropy.detach().float()
        if self.span == "completion":
            if completion_mask is None:
                raise ValueError("advantage.span=completion needs the completion mask")
            span_mask = completion_mask
        if self.level == "sequence":
            h = masked_mean(entropy, span_mask, dim=1)
            bonus = self.bonus(adv, h)
            metrics["adv/entropy_bonus_mean"] = bonus.mean().item()
            metrics["adv/span_entropy_mean"] = h.mean().item()
            return adv + bonus, metrics
        per_token = adv[:, None].expand_as(entropy)
        bonus = self.bonus(per_token, entropy) * span_mask.to(entropy.dtype)
        mask = completion_mask if completion_mask is not None else span_mask
        metrics["adv/entropy_bonus_mean"] = masked_mean(bonus, span_mask).item()
        metrics["adv/span_entropy_mean"] = masked_mean(entropy, span_mask).item()
        return (per_token + bonus) * mask.to(entropy.dtype), metrics
