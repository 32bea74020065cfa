"""Learning-rate schedules: linear warm-up, then cosine (or constant) decay to a floor.

Built by ``conf/optim/*.yaml`` as a partial that the trainer completes with the optimizer and
the total number of optimizer steps, so the schedule always spans the run it belongs to.
"""
from __future__ import annotations

import math

from torch.optim.lr_scheduler import LambdaLR


def warmup_schedule(optimizer, total_steps: int, warmup_ratio: float = 0.05, warmup_steps: int | None = None,
                    decay: str = "cosine", min_lr_ratio: float = 0.1) -> LambdaLR:
    warm = warmup_steps if warmup_steps is not None else int(round(warmup_ratio * total_steps))
    if decay not in ("cosine", "linear", "constant"):
        raise ValueError(f"optim.scheduler.decay must be cosine, linear or constant, got {decay!r}")

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        if decay == "constant":
            return 1.0
        progress = min(1.0, (step - warm) / max(1, total_steps - warm))
        shape = 0.5 * (1 + math.cos(math.pi * progress)) if decay == "cosine" else 1 - progress
        return min_lr_ratio + (1 - min_lr_ratio) * shape

    return LambdaLR(optimizer, factor)
