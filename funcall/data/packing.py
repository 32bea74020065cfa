"""Packed, padding-free SFT batches: several examples per row, each attending only to itself.

`collate_sft` pads every sequence of a micro-batch to its longest; with prompts of 100 to 300
tokens a third of a step's compute can go to padding. `pack_sft` instead lays the examples end to
end in rows of at most ``row_length`` tokens (first-fit decreasing), with position ids that
restart at 0 for each example and no attention mask. The row length is not simply the sequence
budget: without a variable-length attention kernel (CPU, or sdpa) a row's attention costs its
width squared, mask or not, so the trainer's default row is the micro-batch's longest example
(no row wider than the padded batch, fewer rows; `funcall.trainers.sft.SFTTrainer.collate`).
Transformers reads that layout as packed sequences (``masking_utils.find_packed_sequence_indices``:
a position id that does not follow its neighbour starts a new sequence) and builds the
block-diagonal causal mask itself, so no token sees another example; flash-attention kernels use it as variable-length attention. Labels are shifted inside
each example only (an example's last token predicts nothing), so the loss and the span labels are
exactly those of the unpacked batch, example by example (tested).

What it returns differs from `collate_sft` in one way the model call must know: ``labels`` and
``spans`` cover every column (targets sit anywhere in a row), and ``target_index`` lists the
(row, column) positions that have a target, so the forward computes the output projection for
those positions only (`funcall.trainers.sft.SFTModule`).
"""
from __future__ import annotations

import torch

from funcall.data.spans import IGNORE, PROMPT
from funcall.data.tokenize import Encoded


def first_fit(lengths: list[int], capacity: int) -> list[list[int]]:
    """Indices grouped into bins of total length <= ``capacity`` (first-fit decreasing); an item
    longer than the capacity gets a bin of its own."""
    bins: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda k: -lengths[k]):
        for b, free in enumerate(room):
            if lengths[i] <= free:
                bins[b].append(i)
                room[b] -= lengths[i]
                break
        else:
            bins.append([i])
            room.append(capacity - lengths[i])
    return bins


def pack_sft(batch: list[Encoded], pad_id: int, row_length: int) -> dict[str, torch.Tensor]:
    """Rows of whole examples (module docstring): ``input_ids``, ``position_ids``, ``labels``,
    ``spans`` ``[R, W]`` and ``target_index`` ``[2, n_targets]``."""
    rows = first_fit([len(e.input_ids) for e in batch], row_length)
    width = max(sum(len(batch[i].input_ids) for i in row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    spans = torch.full((len(rows), width), PROMPT, dtype=torch.long)
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            e = batch[i]
            n = len(e.input_ids)
            ids[r, at:at + n] = torch.tensor(e.input_ids)
            pos[r, at:at + n] = torch.arange(n)
            target = torch.tensor(e.input_ids[1:])
            span = torch.tensor(e.spans[1:])
            labels[r, at:at + n - 1] = torch.where(span != PROMPT, target, torch.full_like(target, IGNORE))
            spans[r, at:at + n - 1] = span
            at += n
        if at < width:  # the padding tail is a sequence of its own (positions restart), with no targets
            pos[r, at:] = torch.arange(width - at)
    return {"input_ids": ids, "position_ids": pos, "labels": labels, "spans": spans,
            "target_index": (labels != IGNORE).nonzero().T.contiguous()}
