"""Group-relative advantages: GRPO (centred and scaled by the group's std) and Dr. GRPO (centred only).

GRPO: A_i = (r_i - mean(r_group)) / (std(r_group) + eps), as in DeepSeekMath and TRL (``std``
is the sample standard deviation by default; ``std="population"`` divides by G instead of
G - 1). Dr. GRPO (arXiv 2503.20783) drops the division: dividing by a small std gives groups that
are almost all right or all wrong the largest updates, a difficulty bias. A group whose rewards
are all equal gets A = 0 either way; `frac_zero_std_groups` reports how many such groups a batch
had, since they teach nothing.

How it differs from the textbook (and from a ``std < 1e-8`` test): a group is flat iff its
largest reward equals its smallest, an exact comparison, and a flat group's advantage is set to
exactly 0 (GRPO and Dr. GRPO alike). In float32 the mean of G equal rewards that are not dyadic
fractions (0.7, 2.9, 1/3: what ``reward=partial`` and ``mix`` give) can be one ulp off, so
``r - mean`` is ~1e-7 and the std 6e-8 to 3e-7: a threshold misses the group, and dividing by
``std + eps`` blows that rounding error up to |A| = 2e-3 at eps 1e-4 and ~1 at eps 0.
"""
from __future__ import annotations

import torch


def group_stats(rewards: torch.Tensor, std: str = "sample") -> tuple[torch.Tensor, torch.Tensor]:
    if std not in ("sample", "population"):
        raise ValueError(f"advantage.std must be 'sample' or 'population', got {std!r}")
    mean = rewards.mean(dim=1, keepdim=True)
    if rewards.shape[1] < 2:
        return mean, torch.zeros_like(mean)
    return mean, rewards.std(dim=1, keepdim=True, unbiased=std == "sample")


def flat_groups(rewards: torch.Tensor) -> torch.Tensor:
    """``[groups, 1]``, True where every reward of the group is equal (exact, no tolerance)."""
    return rewards.amax(dim=1, keepdim=True) == rewards.amin(dim=1, keepdim=True)


class GRPOAdvantage:
    min_group = 2  # relative to the group's mean: a group of one has advantage 0 whatever its reward

    def __init__(self, scale_by_std: bool = True, eps: float = 1e-4, std: str = "sample"):
        self.scale_by_std = scale_by_std
        self.eps = eps
        self.std = std

    def __call__(self, rewards: torch.Tensor, **_: object) -> tuple[torch.Tensor, dict[str, float]]:
        r = rewards.float()
        mean, std = group_stats(r, self.std)
        flat = flat_groups(r)  # a group of equal rewards teaches nothing: exactly 0, even with eps = 0
        adv = r - mean
        if self.scale_by_std:
            adv = adv / (std + self.eps)
        adv = torch.where(flat, torch.zeros_like(adv), adv)
        zero = flat.float().mean().item()
        return adv.flatten(), {"frac_zero_std_groups": zero, "adv/mean_abs": adv.abs().mean().item()}


def dr_grpo(eps: float = 1e-4) -> GRPOAdvantage:
    """Dr. GRPO: the GRPO advantage without the std division."""
    return GRPOAdvantage(scale_by_std=False, eps=eps)
