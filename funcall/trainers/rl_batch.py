"""Rollout batches as tensors: prompt + completion laid out for one teacher-forced forward pass.

Every row is ``[left-padded prompt | right-padded completion]`` with the prompt block of the same
width W for all rows, so completion token j of every row sits at position W + j and the logits
that predict it at W + j - 1: one slice, no per-row gathers. Position ids follow the attention
mask (as ``generate`` computes them with left padding), so the log-probs of the update match
those of the rollout. `token_logps_and_entropy` returns, for the completion positions only, the
log-prob of each taken token and the entropy of the policy there; it asks the model for just the
last C + 1 positions' logits (``logits_to_keep``), which matters with 150k-token vocabularies.

`micro_batches` cuts a rollout into micro-batches of rows of similar length, each padded only
to its own longest row (outputs are written back into ``[N, C]`` tensors): with prompts of 100
to 300 tokens, one shared padding width wastes a third of every forward and backward pass.

`span_masks` marks which completion tokens lie inside ``<think>...</think>`` (the reasoning
content) by mapping the character span to tokens with a binary search over decoded prefixes;
this works for any tokenizer, whether or not the tags are single tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from funcall.calls import think_span


@dataclass
class RolloutBatch:
    input_ids: torch.Tensor  # [N, W + C]
    attention_mask: torch.Tensor  # [N, W + C]
    position_ids: torch.Tensor  # [N, W + C]
    completion_mask: torch.Tensor  # [N, C] 1 on real completion tokens
    prompt_width: int

    @property
    def completion_width(self) -> int:
        return self.completion_mask.shape[1]

    def rows(self, index: torch.Tensor) -> RolloutBatch:
        return RolloutBatch(self.input_ids[index], self.attention_mask[index], self.position_ids[index],
                            self.completion_mask[index], self.prompt_width)


def build_batch(prompts: list[list[int]], completions: list[list[int]], pad_id: int) -> RolloutBatch:
    """``prompts[i]`` pairs with ``completions[i]`` (callers repeat each prompt per sample)."""
    width = max(len(p) for p in prompts)
    comp_width = max(1, max(len(c) for c in completions))
    n = len(prompts)
    ids = torch.full((n, width + comp_width), pad_id, dtype=torch.long)
    mask = torch.zeros((n, width + comp_width), dtype=torch.long)
    cmask = torch.zeros((n, comp_width), dtype=torch.long)
    for i, (p, c) in enumerate(zip(prompts, completions)):
        ids[i, width - len(p):width] = torch.tensor(p)
        mask[i, width - len(p):width] = 1
        if c:
            ids[i, width:width + len(c)] = torch.tensor(c)
            mask[i, width:width + len(c)] = 1
            cmask[i, :len(c)] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    return RolloutBatch(ids, mask, pos, cmask, width)


def micro_batches(prompts: list[list[int]], completions: list[list[int]], rows: torch.Tensor, size: int,
                  pad_id: int) -> list[tuple[torch.Tensor, RolloutBatch]]:
    """``rows`` (indices into prompts/completions) cut into length-sorted micro-batches."""
    ordered = sorted(rows.tolist(), key=lambda i: len(prompts[i]) + len(completions[i]))
    out = []
    for start in range(0, len(ordered), size):
        chunk = ordered[start:start + size]
        out.append((torch.tensor(chunk), build_batch([prompts[i] for i in chunk], [completions[i] for i in chunk],
                                                     pad_id)))
    return out


def scatter_rows(out: torch.Tensor, rows: torch.Tensor, values: torch.Tensor) -> None:
    """Write ``values`` ``[n, c]`` into ``out[rows, :c]``."""
    out[rows, : values.shape[1]] = values


def token_logps_and_entropy(model, batch: RolloutBatch, temperature: float = 1.0, with_entropy: bool = True):
    """Log-prob of each completion token and the policy entropy at it, both ``[N, C]``."""
    c = batch.completion_width
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                   position_ids=batch.position_ids, use_cache=False, logits_to_keep=c + 1).logits
    logits = logits[:, :c].float() / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    targets = batch.input_ids[:, batch.prompt_width:]
    logps = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1) if with_entropy else None
    return logps, entropy


def _prefix_len_to_tokens(tokenizer, ids: list[int], char_pos: int) -> int:
    """Smallest k with len(decode(ids[:k])) > char_pos (len(ids) if none)."""
    lo, hi = 0, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(tokenizer.decode(ids[: mid + 1], skip_special_tokens=True)) > char_pos:
            hi = mid
        else:
            lo = mid + 1
    return lo


def span_masks(tokenizer, completions: list[list[int]], texts: list[str], width: int) -> torch.Tensor:
    """``[N, width]`` mask of the tokens inside each completion's ``<think>`` content."""
    out = torch.zeros((len(completions), width), dtype=torch.long)
    for i, (ids, text) in enumerate(zip(completions, texts)):
        span = think_span(text)
        if span is None or span[1] <= span[0]:
            continue
        start = _prefix_len_to_tokens(tokenizer, ids, span[0])
        end = _prefix_len_to_tokens(tokenizer, ids, span[1] - 1) + 1
        out[i, start:min(end, len(ids))] = 1
    return out
