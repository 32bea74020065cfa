"""The clipped policy-gradient loss of PPO/GRPO, with a KL penalty and optional entropy bonus.

Per completion token t (``mask`` marks them):

    ratio_t   = exp(logp_t - old_logp_t)
    pg_t      = max(-A * ratio_t, -A * clip(ratio_t, 1 - eps_low, 1 + eps_high))
    kl_t      = exp(ref_t - logp_t) - (ref_t - logp_t) - 1          ("k3", low variance, >= 0)
    loss_t    = pg_t + kl_coef * kl_t - entropy_coef * H_t

``eps_high > eps_low`` is DAPO's clip-higher. A is one advantage per completion (``[B]``) or
per token (``[B, T]``). Aggregation over tokens, the choice the GRPO variants differ on:

* ``token_mean``: every token of the batch weighs the same (DAPO);
* ``seq_mean_token_mean``: mean over each completion, then over completions (original GRPO;
  long completions' tokens weigh less);
* ``seq_mean_token_sum_norm``: token sum divided by a constant ``max_len``, then the mean over
  completions (Dr. GRPO: no length bias).

Returns ``(loss, metrics)`` with ``kl``, ``clip_frac`` (share of tokens whose ratio was clipped
where it mattered), ``loss/pg`` and ``ratio/mean``. The KL and entropy terms cost nothing when
their coefficients are 0 and their inputs are None.
"""
from __future__ import annotations

import torch

AGGREGATIONS = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm")


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, mode: str, max_len: int | None = None) -> torch.Tensor:
    mask = mask.to(per_token.dtype)
    if mode == "token_mean":
        return (per_token * mask).sum() / mask.sum().clamp(min=1)
    if mode == "seq_mean_token_mean":
        return ((per_token * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()
    if mode == "seq_mean_token_sum_norm":
        return ((per_token * mask).sum(1) / float(max_len or per_token.shape[1])).mean()
    raise ValueError(f"loss.aggregation must be one of {', '.join(AGGREGATIONS)}, got {mode!r}")


class ClippedPolicyLoss:
    def __init__(self, eps_low: float = 0.2, eps_high: float = 0.2, kl_coef: float = 0.0, entropy_coef: float = 0.0,
                 aggregation: str = "token_mean", max_len: int | None = None):
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"loss.aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
        self.eps_low, self.eps_high = eps_low, eps_high
        self.kl_coef, self.entropy_coef = kl_coef, entropy_coef
        self.aggregation, self.max_len = aggregation, max_len

    def __call__(self, logps: torch.Tensor, old_logps: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                 ref_logps: torch.Tensor | None = None, entropy: torch.Tensor | None = None,
                 ) -> tuple[torch.Tensor, dict[str, float]]:
        adv = advantages if advantages.dim() == 2 else advantages[:, None]
        ratio = torch.exp(logps - old_logps)
        unclipped = -adv * ratio
        clipped = -adv * torch.clamp(ratio, 1 - self.eps_low, 1 + self.eps_high)
        pg = torch.maximum(unclipped, clipped)
        per_token = pg
        maskf = mask.to(logps.dtype)
        metrics = {}
        if self.kl_coef and ref_logps is not None:
            delta = ref_logps - logps
            kl = torch.exp(delta) - delta - 1
            per_token = per_token + self.kl_coef * kl
            metrics["kl"] = ((kl * maskf).sum() / maskf.sum().clamp(min=1)).item()
        if self.entropy_coef and entropy is not None:
            per_token = per_token - self.entropy_coef * entropy
        loss = aggregate(per_token, mask, self.aggregation, self.max_len)
        n = maskf.sum().clamp(min=1)
        metrics.update({
            "loss": loss.item(),
            "loss/pg": aggregate(pg, mask, self.aggregation, self.max_len).item(),
            "clip_frac": (((clipped > unclipped).to(maskf.dtype)) * maskf).sum().item() / n.item(),
            "ratio/mean": ((ratio.detach() * maskf).sum() / n).item(),
        })
        return loss, metrics
