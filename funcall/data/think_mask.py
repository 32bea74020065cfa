"""Which tokens of a completion lie inside its ``<think>...</think>`` content.

The entropy-guided advantage, SRML's reasoning weight and the ``entropy/think`` metric all need
the reasoning span in token positions, while the span is found in text (`funcall.calls.think_span`).
`span_masks` maps the character span to tokens with a binary search over decoded prefixes
(O(log n) decodes per boundary) instead of decoding token by token or trusting that ``<think>``
is one token: it works for any tokenizer, whether the tags are special tokens (Qwen3) or several
ordinary ones (the tiny default).
"""
from __future__ import annotations

import torch

from funcall.calls import think_span


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
    """``[N, width]`` mask of the tokens inside each completion's ``<think>`` content; ``texts``
    are the completions decoded with special tokens skipped."""
    out = torch.zeros((len(completions), width), dtype=torch.long)
    for i, (ids, text) in enumerate(zip(completions, texts)):
        span = think_span(text)
        if span is None or span[1] <= span[0]:
            continue
        start = _prefix_len_to_tokens(tokenizer, ids, span[0])
        end = _prefix_len_to_tokens(tokenizer, ids, span[1] - 1) + 1
        out[i, start:min(end, len(ids))] = 1
    return out
