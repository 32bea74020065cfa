"""The policy's current weights as ``(name, tensor)`` pairs, in bounded chunks, for an inference engine.

An engine that keeps its own copy of the weights (vLLM) needs the trainer's after every update.
Under ZeRO-3 every rank holds a shard of each parameter, so the weights are gathered, but never
the whole model at once: parameters are taken in chunks of at most ``chunk_mb`` megabytes,
gathered together (``deepspeed.zero.GatheredParameters``, collective: every rank iterates), and
each is handed out while its chunk is whole; the engine copies it before asking for the next. The
names are the checkpoint's (``model.layers.0...``), tied weights included under both names (the
CPU build of vLLM keeps the output projection apart from the embedding). A LoRA policy (a peft
model, `funcall.models.lora`) hands out its merged weights under the base model's names: each
adapted weight is gathered with its adapter and read as weight + delta, so the engine never sees
peft's names or the adapters apart.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch

from funcall.models.lora import adapter_parameters, base_weights, merged


def weight_chunks(module: torch.nn.Module, chunk_mb: float) -> list[list[tuple[str, torch.nn.Parameter, torch.nn.Module | None]]]:
    """``(name, parameter, lora layer or None)`` (tied ones under each name; for a peft model the
    base model's names, `funcall.models.lora.base_weights`) in groups of at most ``chunk_mb`` MB (full size)."""
    budget = max(1, int(chunk_mb * 1024 * 1024))
    chunks: list[list[tuple[str, torch.nn.Parameter, torch.nn.Module | None]]] = [[]]
    size = 0
    for name, param, layer in base_weights(module):
        numel = getattr(param, "ds_numel", param.numel())
        nbytes = numel * param.element_size()
        if chunks[-1] and size + nbytes > budget:
            chunks.append([])
            size = 0
        chunks[-1].append((name, param, layer))
        size += nbytes
    return [c for c in chunks if c]


def weight_shapes(module: torch.nn.Module) -> list[tuple[str, torch.dtype, tuple[int, ...]]]:
    """``(name, dtype, full shape)`` of every weight `gathered_weights` yields, in its order."""
    return [(name, p.dtype, tuple(getattr(p, "ds_shape", p.shape))) for name, p, _ in base_weights(module)]


def gathered_weights(module: torch.nn.Module, zero3: bool, chunk_mb: float = 512) -> Iterator[tuple[str, torch.Tensor]]:
    """``(name, full tensor)`` for every weight of ``module`` (merged for a LoRA policy);
    collective under ZeRO-3."""
    for chunk in weight_chunks(module, chunk_mb):
        if zero3:
            import deepspeed

            params = [p for _, p, _ in chunk] + [a for _, _, layer in chunk if layer is not None
                                                 for a in adapter_parameters(layer)]
            unique = list({id(p): p for p in params}.values())
            with deepspeed.zero.GatheredParameters(unique, modifier_rank=None):
                for name, param, layer in chunk:
                    yield name, merged(param, layer)
        else:
            for name, param, layer in chunk:
                yield name, merged(param, layer)
