"""The policy's current weights as ``(name, tensor)`` pairs, in bounded chunks, for an inference engine.

An engine that keeps its own copy of the weights (vLLM) needs the trainer's after every update.
Under ZeRO-3 every rank holds a shard of each parameter, so the weights are gathered, but never
the whole model at once: parameters are taken in chunks of at most ``chunk_mb`` megabytes,
gathered together (``deepspeed.zero.GatheredParameters``, collective: every rank iterates), and
each is handed out while its chunk is whole; the engine copies it before asking for the next. The
names are the checkpoint's (``model.layers.0...``), tied weights included under both names (the
CPU build of vLLM keeps the output projection apart from the embedding).
"""
from __future__ import annotations

from collections.abc import Iterator

import torch


def weight_chunks(module: torch.nn.Module, chunk_mb: float) -> list[list[tuple[str, torch.nn.Parameter]]]:
    """Named parameters (tied ones under each name) in groups of at most ``chunk_mb`` MB (full size)."""
    budget = max(1, int(chunk_mb * 1024 * 1024))
    chunks: list[list[tuple[str, torch.nn.Parameter]]] = [[]]
    size = 0
    for name, param in module.named_parameters(remove_duplicate=False):
        numel = getattr(param, "ds_numel", param.numel())
        nbytes = numel * param.element_size()
        if chunks[-1] and size + nbytes > budget:
            chunks.append([])
            size = 0
        chunks[-1].append((name, param))
        size += nbytes
    return [c for c in chunks if c]


def gathered_weights(module: torch.nn.Module, zero3: bool, chunk_mb: float = 512) -> Iterator[tuple[str, torch.Tensor]]:
    """``(name, full tensor)`` for every weight of ``module``; collective under ZeRO-3."""
    for chunk in weight_chunks(module, chunk_mb):
        if zero3:
            import deepspeed

            unique = list({id(p): p for _, p in chunk}.values())
            with deepspeed.zero.GatheredParameters(unique, modifier_rank=None):
                for name, param in chunk:
                    yield name, param.data
        else:
            for name, param in chunk:
                yield name, param.data
