"""Batched, KV-cached generation with Hugging Face ``generate`` on the training weights.

Under ZeRO-3 each rank holds a shard of every weight. Rather than letting every layer's forward
all-gather its shard once per generated token (``synced_gpus=True``), we gather all parameters
once per call (``deepspeed.zero.GatheredParameters``), generate locally, and release them:
one collective per rollout phase instead of one per token and layer. Models too large to hold
whole on one device set ``gather=False`` and fall back to ``synced_gpus``, which keeps ranks in
lock-step even when their completions differ in length.

Prompts are sorted by length before batching, so each left-padded batch wastes little. Every
rank must call `generate` the same number of times under ZeRO-3 (the gather is collective);
callers give every rank the same number of prompts.
"""
from __future__ import annotations

import contextlib

import torch


class HFEngine:
    def __init__(self, module: torch.nn.Module, tokenizer, zero3: bool = False, gather: bool = True,
                 batch_size: int = 64):
        self.module = module
        self.tokenizer = tokenizer
        self.zero3 = zero3
        self.gather = gather
        self.batch_size = batch_size
        eos = module.generation_config.eos_token_id if module.generation_config else None
        eos = eos if isinstance(eos, list) else [eos] if eos is not None else []
        self.eos_ids = sorted(set(eos + [tokenizer.eos_token_id]) - {None})

    def sync_weights(self) -> None:  # generation reads the live training weights
        return None

    def _gathered(self):
        if self.zero3 and self.gather:
            import deepspeed

            return deepspeed.zero.GatheredParameters(list(self.module.parameters()), modifier_rank=None)
        return contextlib.nullcontext()

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], *, max_new_tokens: int, num_samples: int = 1,
                 temperature: float = 1.0, top_p: float = 1.0, greedy: bool = False) -> list[list[int]]:
        flat = [p for p in prompts for _ in range(num_samples)]
        order = sorted(range(len(flat)), key=lambda i: len(flat[i]))
        out: list[list[int]] = [[] for _ in flat]
        was_training = self.module.training
        self.module.eval()
        pad = self.tokenizer.pad_token_id
        kwargs = dict(max_new_tokens=max_new_tokens, pad_token_id=pad, eos_token_id=self.eos_ids,
                      use_cache=True, synced_gpus=self.zero3 and not self.gather)
        kwargs.update(do_sample=False) if greedy else kwargs.update(
            do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
        try:
            with self._gathered():
                for start in range(0, len(order), self.batch_size):
                    idx = order[start:start + self.batch_size]
                    width = max(len(flat[i]) for i in idx)
                    ids = torch.full((len(idx), width), pad, dtype=torch.long)
                    mask = torch.zeros((len(idx), width), dtype=torch.long)
                    for row, i in enumerate(idx):
                        ids[row, width - len(flat[i]):] = torch.tensor(flat[i])
                        mask[row, width - len(flat[i]):] = 1
                    device = next(self.module.parameters()).device
                    gen = self.module.generate(input_ids=ids.to(device), attention_mask=mask.to(device), **kwargs)
                    for row, i in enumerate(idx):
                        out[i] = self._trim(gen[row, width:].tolist())
        finally:
            self.module.train(was_training)
        return out

    def _trim(self, ids: list[int]) -> list[int]:
        """Cut after the first EOS (kept) and drop the padding after it."""
        for n, t in enumerate(ids):
            if t in self.eos_ids:
                return ids[: n + 1]
        return ids
