"""Turn a prompt and its target into token ids, with every target token marked as reasoning or call.

The prompt ids come from the style (`funcall.data.prompts.PromptStyle.prompt_ids`: the chat
template's rendering, tokenised on its own, exactly as generation will see it). The target
(reasoning span + call span + the template's end-of-turn marker) is tokenised in one piece with
character offsets, and each token is labelled by where it starts: before the end of the reasoning
span -> `THINK`, after -> `CALL`. Tokenising the target whole (rather than span by span) keeps the
token sequence a model would produce itself; the offsets keep the span labels exact. SRML weights
these spans separately; plain CE ignores the labels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from funcall.data.spans import CALL, IGNORE, PROMPT, THINK

if TYPE_CHECKING:
    import torch

__all__ = ["CALL", "IGNORE", "PROMPT", "THINK", "Encoded", "collate_sft", "encode_target", "end_of_turn"]


@dataclass
class Encoded:
    input_ids: list[int]
    spans: list[int]  # PROMPT | THINK | CALL per token
    prompt_len: int
    truncated: bool = False


def end_of_turn(tokenizer) -> str:
    """The text the chat template puts after an assistant message (``<|im_end|>`` for ChatML)."""
    cached = getattr(tokenizer, "_funcall_eot", None)
    if cached is not None:
        return cached
    marker = "XQZJ"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "u"}, {"role": "assistant", "content": marker}], tokenize=False)
    eot = text[text.rindex(marker) + len(marker):].rstrip("\n ") or (tokenizer.eos_token or "")
    tokenizer._funcall_eot = eot
    return eot


def encode_target(tokenizer, prompt_ids: list[int], think: str, call: str, max_length: int) -> Encoded:
    """``prompt_ids`` then the target ``think + call + end_of_turn``, cut to ``max_length`` tokens.

    The target is tokenised whole with offsets (module docstring): a token starting inside
    ``think`` is `THINK`, every later one `CALL` (all of them when ``think`` is empty)."""
    target = think + call + end_of_turn(tokenizer)
    enc = tokenizer(target, add_special_tokens=False, return_offsets_mapping=True)
    spans = [THINK if start < len(think) else CALL for start, _ in enc["offset_mapping"]]
    ids = prompt_ids + enc["input_ids"]
    spans = [PROMPT] * len(prompt_ids) + spans
    truncated = len(ids) > max_length
    return Encoded(ids[:max_length], spans[:max_length], len(prompt_ids), truncated)


def collate_sft(batch: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad into tensors, so every sequence ends at the last column.

    ``labels`` are the next-token targets, already shifted: position t holds token t+1 (IGNORE
    on prompt and padding), ``spans`` likewise, so a loss reads ``logits[:, t]`` against
    ``labels[:, t]``. Left padding puts every target in the last ``target_width`` columns, so
    the model computes logits for those columns only (``logits_to_keep``): the prompt's logits,
    two thirds of all positions here, are never built. ``position_ids`` count real tokens from 0,
    as generation does with the same padding.
    """
    import torch  # here, not at the top: prompts and the data layer above them import without torch
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    spans = torch.zeros((len(batch), width), dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, width - n:] = torch.tensor(e.input_ids)
        mask[i, width - n:] = 1
        tgt = torch.tensor(e.input_ids[1:])
        sp = torch.tensor(e.spans[1:])
        keep = sp != PROMPT
        labels[i, width - n: width - 1] = torch.where(keep, tgt, torch.full_like(tgt, IGNORE))
        spans[i, width - n: width - 1] = sp
    has_target = (labels != IGNORE).any(dim=0).nonzero()
    target_width = width - int(has_target[0]) if len(has_target) else 1
    return {"input_ids": ids, "attention_mask": mask, "position_ids": (mask.cumsum(-1) - 1).clamp(min=0),
            "labels": labels[:, -target_width:], "spans": spans[:, -target_width:]}
