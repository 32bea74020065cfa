"""The policy's forward pass over a rollout: each completion token's log-prob and the policy's entropy.

`token_logps_and_entropy` asks the model's decoder for its hidden states at the completion
positions of a `funcall.trainers.rollout_layout.RolloutBatch` and runs the output layer over those
positions only, a chunk at a time (`funcall.models.output_layer`), which matters with 150k-token
vocabularies. When a micro-batch holds whole groups of samples of one prompt, the prompt runs once
and its KV cache is repeated for the group's completions (`_shared_prompt_hidden`; the module
docstring of `funcall.trainers.rollout_layout` says why). `PolicyModule` is that forward as
DeepSpeed wraps it (the RL run's engine and its reference), and `no_grad_logps` runs it over a
whole `Trajectory` without gradients (old-policy and reference log-probs).
"""
from __future__ import annotations

import torch

from funcall.models.output_layer import softcap_of, token_stats
from funcall.rollout.trajectory import Trajectory
from funcall.trainers.rollout_layout import RolloutBatch, micro_batches, scatter_rows


def token_logps_and_entropy(model, batch: RolloutBatch, temperature: float = 1.0, with_entropy: bool = True,
                            chunk: int | None = None):
    """Log-prob of each completion token and the policy entropy at it, both ``[N, C]``; the output
    layer runs ``chunk`` positions at a time (`funcall.models.output_layer`: at most one chunk's
    logits exist, forward or backward). Collective under ZeRO-3."""
    n, c = batch.input_ids.shape[0], batch.completion_width
    hidden = _shared_prompt_hidden(model, batch) if batch.group > 1 else model.get_decoder()(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=batch.position_ids,
        use_cache=False).last_hidden_state[:, batch.prompt_width - 1:batch.prompt_width - 1 + c]
    targets = batch.input_ids[:, batch.prompt_width:]
    logps, entropy = token_stats(model.get_output_embeddings(), hidden.reshape(n * c, -1), targets.reshape(-1),
                                 chunk=chunk, temperature=temperature, softcap=softcap_of(model),
                                 with_entropy=with_entropy)
    return logps.view(n, c), None if entropy is None else entropy.view(n, c)


def _shared_prompt_hidden(model, batch: RolloutBatch) -> torch.Tensor:
    """The hidden states predicting each completion token, ``[N, C, H]``, running each prompt once."""
    from transformers import DynamicCache

    w, c, g = batch.prompt_width, batch.completion_width, batch.group
    decoder = model.get_decoder()
    cache = DynamicCache(config=model.config)
    first = decoder(input_ids=batch.input_ids[::g, :w], attention_mask=batch.attention_mask[::g, :w],
                    position_ids=batch.position_ids[::g, :w], cache=cache, use_cache=True).last_hidden_state[:, -1:]
    first = first.repeat_interleave(g, dim=0)  # predicts completion token 0
    cache.batch_repeat_interleave(g)
    # Always two forwards, even when every completion here is one token long (then the second
    # runs that token and its states are dropped, still inside the graph through the cat): under ZeRO-3 each
    # forward and its backward are collective, so a rank must not skip one its peer runs.
    k = max(c - 1, 1)
    rest = decoder(input_ids=batch.input_ids[:, w:w + k], attention_mask=batch.attention_mask[:, :w + k],
                   position_ids=batch.position_ids[:, w:w + k], cache=cache, use_cache=True).last_hidden_state
    return torch.cat([first, rest], dim=1)[:, :c]


class PolicyModule(torch.nn.Module):
    """The policy as DeepSpeed sees it: forward gives completion log-probs and entropies."""

    def __init__(self, model: torch.nn.Module, temperature: float, logit_chunk: int | None = None):
        super().__init__()
        self.model = model
        self.temperature = temperature
        self.logit_chunk = logit_chunk  # trainer.logit_chunk: positions per output-layer chunk

    def forward(self, batch: RolloutBatch, with_entropy: bool = True):
        return token_logps_and_entropy(self.model, batch, self.temperature, with_entropy, self.logit_chunk)


def no_grad_logps(engine, trajectory: Trajectory, batch_size: int, pad_id: int, with_entropy: bool):
    """Token log-probs (and entropies) of every row under ``engine``, ``[N, C]``, no gradients."""
    n, width = trajectory.rows, trajectory.width
    logps = torch.zeros((n, width))
    ents = torch.zeros((n, width)) if with_entropy else None
    micros = micro_batches(trajectory.prompt_ids, trajectory.completion_ids, torch.arange(n), batch_size, pad_id,
                           trajectory.group)
    with torch.no_grad():
        for rows, sub in micros:
            lp, ent = engine(sub, with_entropy=with_entropy)
            scatter_rows(logps, rows, lp)
            if with_entropy:
                scatter_rows(ents, rows, ent)
    return logps, ents
