"""One DeepSpeed optimizer step, returning the global gradient norm however ZeRO is configured."""
from __future__ import annotations

import torch


def optimizer_step(engine) -> float | None:
    """``engine.step()`` after a micro-batch's backward; at the accumulation boundary (when the
    optimizer really steps) also the global gradient norm of that step, else None.

    ZeRO stages compute the norm inside the step; without ZeRO DeepSpeed leaves it to torch's
    optimizer, so it is taken from the (already all-reduced) gradients just before."""
    boundary = engine.is_gradient_accumulation_boundary()
    before = None
    if boundary and not engine.zero_optimization():
        grads = [p.grad for p in engine.module.parameters() if p.grad is not None]
        before = float(torch.nn.utils.get_total_norm(grads)) if grads else None
    engine.step()
    if not boundary:
        return None
    norm = engine.get_global_grad_norm()
    return before if norm is None else float(norm)
