"""Batched, KV-cached generation with Hugging Face ``generate`` on the training weights.

Under ZeRO-3 each rank holds a shard of every weight. Rather than letting every layer's forward
all-gather its shard once per generated token (``synced_gpus=True``), we gather all parameters
once per call and generate locally: one collective per rollout phase instead of one per token
and layer. Gathering is not enough on its own: ZeRO-3's forward hooks stay on the modules and
keep fetching, prefetching and releasing parameters, collectively, at every forward, so a rank
whose completions stop early runs fewer forwards than its peer and the two wait on each other
forever. The gather therefore goes through DeepSpeed's own ``unwrap_model_for_generation``
(the same idea as TRL's), which also takes the hooks off for the duration and puts them back:
generation then makes no collective call at all, whatever each rank's completions do. Models
too large to hold whole on one device set ``gather=False`` and fall back to ``synced_gpus``,
which keeps the ranks in lock-step (every rank runs a forward until all have finished).

Prompts are sorted by length before batching, so each left-padded batch wastes little. With
several samples per prompt, each prompt (but its last token) is run once and its KV cache
repeated for the samples, so the prefill costs one prompt, not ``num_samples``; the cache is a
preallocated static one, so decoding does not copy a growing cache at every token. Every
rank must call `generate` the same number of times under ZeRO-3 (the gather is collective);
callers give every rank the same number of prompts.

With ``with_stats=True`` the engine also returns, for every generated token, its log-prob and
the entropy of the distribution it was drawn from, both under ``softmax(logits / temperature)``
(the policy the trainer optimises). They are read off the logits ``generate`` computes anyway,
by a logits processor that runs before temperature and top-p are applied, so an RL step needs
no separate forward pass for its "old" log-probs and entropies. Sampling always uses the
policy itself: a model's own generation defaults (repetition penalty, top-k) are switched off.
"""
from __future__ import annotations

import contextlib

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from funcall.rollout.engine import Rollouts


class _Recorder(LogitsProcessor):
    """Records log-probs of sampled tokens and entropies under softmax(logits / temperature).

    At each step it sees the raw logits (it runs before the warpers) and the tokens sampled so
    far, so the log-prob of the token sampled at step t is read from step t's distribution,
    kept for one step.
    """

    def __init__(self, temperature: float):
        self.temperature = max(temperature, 1e-5)
        self.previous: torch.Tensor | None = None
        self.logps: list[torch.Tensor] = []
        self.entropies: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.previous is not None:
            self.take(input_ids[:, -1])
        logp = torch.log_softmax(scores.float() / self.temperature, dim=-1)
        self.entropies.append(-(logp.exp() * logp).sum(-1))
        self.previous = logp
        return scores

    def take(self, tokens: torch.Tensor) -> None:
        self.logps.append(self.previous.gather(-1, tokens[:, None]).squeeze(-1))
        self.previous = None


class HFEngine:
    """``module`` is the Hugging Face model; ``ds_engine`` the DeepSpeed engine that holds it (its
    ZeRO-3 hooks are what generation must switch off), None for a plain model."""

    def __init__(self, module: torch.nn.Module, tokenizer, ds_engine=None, gather: bool = True,
                 batch_size: int = 64):
        self.module = module
        self.tokenizer = tokenizer
        self.ds_engine = ds_engine
        self.zero3 = bool(ds_engine is not None and ds_engine.zero_optimization_partition_weights())
        self.gather = gather
        self.batch_size = batch_size
        eos = module.generation_config.eos_token_id if module.generation_config else None
        eos = eos if isinstance(eos, list) else [eos] if eos is not None else []
        self.eos_ids = sorted(set(eos + [tokenizer.eos_token_id]) - {None})

    def sync_weights(self) -> None:  # generation reads the live training weights
        return None

    def release(self) -> None:  # nothing of its own to free
        return None

    def _gathered(self):
        """Whole weights and no ZeRO-3 hooks for the duration (see the module docstring)."""
        if self.zero3 and self.gather:
            from deepspeed.runtime.zero.stage3 import unwrap_model_for_generation

            return unwrap_model_for_generation(self.ds_engine)
        return contextlib.nullcontext()

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], *, max_new_tokens: int, num_samples: int = 1,
                 temperature: float = 1.0, top_p: float = 1.0, greedy: bool = False,
                 with_stats: bool = False) -> Rollouts:
        flat = [p for p in prompts for _ in range(num_samples)]
        order = sorted(range(len(flat)), key=lambda i: len(flat[i]))
        out: list[list[int]] = [[] for _ in flat]
        logps: list[list[float]] = [[] for _ in flat]
        ents: list[list[float]] = [[] for _ in flat]
        was_training = self.module.training
        self.module.eval()
        pad = self.tokenizer.pad_token_id
        kwargs = dict(max_new_tokens=max_new_tokens, pad_token_id=pad, eos_token_id=self.eos_ids,
                      use_cache=True, synced_gpus=self.zero3 and not self.gather, repetition_penalty=1.0)
        kwargs.update(do_sample=False) if greedy else kwargs.update(
            do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
        # Batches hold whole groups (the stable sort keeps a prompt's samples together), so each
        # prompt can be prefilled once (`_shared_prompt_cache`).
        group = num_samples if num_samples > 1 else 1
        step = max(group, self.batch_size // group * group)
        try:
            with self._gathered():
                for start in range(0, len(order), step):
                    idx = order[start:start + step]
                    width = max(len(flat[i]) for i in idx)
                    ids = torch.full((len(idx), width), pad, dtype=torch.long)
                    mask = torch.zeros((len(idx), width), dtype=torch.long)
                    for row, i in enumerate(idx):
                        ids[row, width - len(flat[i]):] = torch.tensor(flat[i])
                        mask[row, width - len(flat[i]):] = 1
                    device = next(self.module.parameters()).device
                    ids, mask = ids.to(device), mask.to(device)
                    kwargs.pop("cache", None)
                    if group > 1 and width > 1:
                        kwargs["cache"] = self._shared_prompt_cache(ids, mask, group, max_new_tokens)
                    recorder = _Recorder(1.0 if greedy else temperature) if with_stats else None
                    gen = self.module.generate(
                        input_ids=ids, attention_mask=mask,
                        logits_processor=LogitsProcessorList([recorder]) if recorder else None, **kwargs)
                    if recorder is not None and recorder.previous is not None:
                        recorder.take(gen[:, -1])  # the last sampled token
                    for row, i in enumerate(idx):
                        out[i] = self._trim(gen[row, width:].tolist())
                        if recorder is not None:
                            n = len(out[i])
                            logps[i] = [float(t[row]) for t in recorder.logps[:n]]
                            ents[i] = [float(t[row]) for t in recorder.entropies[:n]]
        finally:
            self.module.train(was_training)
        return Rollouts(out, logps, ents) if with_stats else Rollouts(out)

    def _shared_prompt_cache(self, ids: torch.Tensor, mask: torch.Tensor, group: int, max_new_tokens: int):
        """The KV cache of every prompt but its last token, computed once per prompt (rows come in
        runs of ``group`` copies) and written ``group`` times into a preallocated (static) cache
        sized for the whole generation; `generate` then prefills only the last prompt token of
        each row. With 8 samples per prompt this divides the prefill by 8, and the static cache
        spares each decode step the copy a growing cache makes of every layer's keys and values."""
        from transformers import DynamicCache, StaticCache

        prompt = DynamicCache(config=self.module.config)
        m = mask[::group, :-1]
        pos = (m.cumsum(-1) - 1).masked_fill(m == 0, 1)  # as `generate` computes them
        self.module(input_ids=ids[::group, :-1], attention_mask=m, position_ids=pos, cache=prompt, use_cache=True,
                    logits_to_keep=1)
        cache = StaticCache(config=self.module.config, max_cache_len=ids.shape[1] + max_new_tokens)
        where = {"cache_position": torch.arange(ids.shape[1] - 1, device=ids.device)}
        for i, layer in enumerate(prompt.layers):
            cache.update(layer.keys.repeat_interleave(group, dim=0), layer.values.repeat_interleave(group, dim=0), i, where)
        return cache

    def _trim(self, ids: list[int]) -> list[int]:
        """Cut after the first EOS (kept) and drop the padding after it."""
        for n, t in enumerate(ids):
            if t in self.eos_ids:
                return ids[: n + 1]
        return ids
