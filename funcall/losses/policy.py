"""The clipped policy-gradient loss of PPO/GRPO, with a KL penalty and optional entropy bonus.

Per completion token t (``mask`` marks them):

    ratio_t   = exp(logp_t - old_logp_t)
    pg_t      = max(-A * ratio_t, -A * clip(ratio_t, 1 - eps_low, 1 + eps_high))
    kl_t      = exp(ref_t - logp_t) - (ref_t - logp_t) - 1          ("k3", low variance, >= 0)
    loss_t    = pg_t + kl_coef * kl_t - entropy_coef * H_t

``eps_high > eps_low`` is DAPO's clip-higher. A is one advantage per completion (``[B]``) or
per token (``[B, T]``). With ``is_correction="tis"`` (truncated importance sampling, as TRL's
``vllm_importance_sampling_correction`` and verl's rollout correction do) each token's pg_t is
weighed by ``min(exp(old_logp_t - rollout_logp_t), is_cap)``, detached: the old log-probs are the
trainer's own (recomputed), the rollout log-probs the inference engine's, and the weight corrects
for the engine sampling from a slightly different distribution than the trainer computes. Aggregation over tokens, the choice the GRPO variants differ on:

* ``token_mean``: every token of the mini-batch weighs the same (DAPO, TRL's ``dapo``, verl);
* ``seq_mean_token_mean``: mean over each completion, then over completions (original GRPO;
  long completions' tokens weigh less);
* ``seq_mean_token_sum_norm``: token sum divided by a constant ``max_len``, then the mean over
  completions (Dr. GRPO: no length bias). ``max_len`` is required (``loss.max_len``, in the config
  ``${rollout.max_new_tokens}``): it is never the micro-batch's width, which differs between
  micro-batches and would make the shares depend on the bucketing.

How it differs from the obvious version: the loss is called once per micro-batch, but the means
above are over the whole mini-batch, across micro-batches and ranks. The caller passes that
mini-batch's size (`BatchSize`: completion tokens and completions, summed over every
micro-batch and rank) and the loss returns this micro-batch's *share* of the mini-batch loss: its
sum divided by the mini-batch's count. Summed over micro-batches and ranks, the shares are the
exact mean, whatever the micro-batch size, the length bucketing or the number of ranks (dividing
each micro-batch by its own token count, then averaging micro-batches, weighs a token of a short
bucket up to 2-3x a token of a long one). Without ``size`` the micro-batch is the whole batch.
Metrics follow the same rule: each is this call's additive share of the mini-batch value
(``kl``, ``clip_frac``, ``ratio/mean`` are token means; ``loss``, ``loss/pg`` as aggregated).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

AGGREGATIONS = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm")
IS_CORRECTIONS = ("none", "tis")


@dataclass(frozen=True)
class BatchSize:
    """The mini-batch a micro-batch belongs to: completion tokens and completions, all ranks."""

    tokens: float
    sequences: float

    @staticmethod
    def of(mask: torch.Tensor) -> BatchSize:
        return BatchSize(float(mask.sum()), float(mask.shape[0]))


def check_max_len(mode: str, max_len: int | None) -> None:
    if mode == "seq_mean_token_sum_norm" and (max_len is None or max_len <= 0):
        raise ValueError(f"loss.max_len must be a positive constant with loss.aggregation={mode} "
                         f"(Dr. GRPO's divisor, e.g. rollout.max_new_tokens), got {max_len}")


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, mode: str, max_len: int | None = None,
              size: BatchSize | None = None) -> torch.Tensor:
    """This micro-batch's share of the mini-batch aggregate (module docstring); ``size`` None:
    the micro-batch is the mini-batch."""
    mask = mask.to(per_token.dtype)
    size = size or BatchSize.of(mask)
    if mode == "token_mean":
        return (per_token * mask).sum() / max(size.tokens, 1.0)
    if mode == "seq_mean_token_mean":
        return ((per_token * mask).sum(1) / mask.sum(1).clamp(min=1)).sum() / max(size.sequences, 1.0)
    if mode == "seq_mean_token_sum_norm":
        check_max_len(mode, max_len)
        return ((per_token * mask).sum(1) / float(max_len)).sum() / max(size.sequences, 1.0)
    raise ValueError(f"loss.aggregation must be one of {', '.join(AGGREGATIONS)}, got {mode!r}")


class ClippedPolicyLoss:
    """`funcall.losses.base.PolicyLoss`."""

    def __init__(self, eps_low: float = 0.2, eps_high: float = 0.2, kl_coef: float = 0.0, entropy_coef: float = 0.0,
                 aggregation: str = "token_mean", max_len: int | None = None, is_correction: str = "none",
                 is_cap: float = 2.0):
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"loss.aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
        check_max_len(aggregation, max_len)
        if is_correction not in IS_CORRECTIONS:
            raise ValueError(f"loss.is_correction must be one of {', '.join(IS_CORRECTIONS)}, got {is_correction!r}")
        if is_cap <= 0:
            raise ValueError(f"loss.is_cap must be > 0, got {is_cap}")
        self.eps_low, self.eps_high = eps_low, eps_high
        self.kl_coef, self.entropy_coef = kl_coef, entropy_coef
        self.aggregation, self.max_len = aggregation, max_len
        self.is_cap = float(is_cap)
        self.uses_reference = bool(kl_coef)
        self.uses_entropy = bool(entropy_coef)
        self.corrects_rollout = is_correction == "tis"

    def __call__(self, logps: torch.Tensor, old_logps: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                 ref_logps: torch.Tensor | None = None, entropy: torch.Tensor | None = None,
                 size: BatchSize | None = None, rollout_logps: torch.Tensor | None = None,
                 ) -> tuple[torch.Tensor, dict[str, float]]:
        adv = advantages if advantages.dim() == 2 else advantages[:, None]
        maskf = mask.to(logps.dtype)
        size = size or BatchSize.of(maskf)
        ratio = torch.exp(logps - old_logps)
        unclipped = -adv * ratio
        clipped = -adv * torch.clamp(ratio, 1 - self.eps_low, 1 + self.eps_high)
        pg = torch.maximum(unclipped, clipped)
        tokens = max(size.tokens, 1.0)
        metrics = {}
        if self.corrects_rollout:
            if rollout_logps is None:
                raise ValueError("loss.is_correction=tis needs the rollout engine's log-probs (rollout_logps)")
            raw = torch.exp(old_logps - rollout_logps).detach()
            weight = raw.clamp(max=self.is_cap)
            pg = pg * weight
            metrics["is/weight_mean"] = (weight * maskf).sum().item() / tokens
            metrics["is/capped_frac"] = ((raw > self.is_cap).to(maskf.dtype) * maskf).sum().item() / tokens
        per_token = pg
        if self.kl_coef and ref_logps is not None:
            delta = ref_logps - logps
            kl = torch.exp(delta) - delta - 1
            per_token = per_token + self.kl_coef * kl
            metrics["kl"] = (kl.detach() * maskf).sum().item() / tokens
        if self.entropy_coef and entropy is not None:
            per_token = per_token - self.entropy_coef * entropy
        loss = aggregate(per_token, mask, self.aggregation, self.max_len, size)
        metrics.update({
            "loss": loss.item(),
            "loss/pg": aggregate(pg.detach(), mask, self.aggregation, self.max_len, size).item(),
            "clip_frac": ((clipped > unclipped).to(maskf.dtype) * maskf).sum().item() / tokens,
            "ratio/mean": (ratio.detach() * maskf).sum().item() / tokens,
        })
        return loss, metrics
