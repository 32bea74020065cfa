"""Rollout batches as tensors: prompt + completion laid out for one teacher-forced forward pass.

Every row is ``[left-padded prompt | right-padded completion]`` with the prompt block of the same
width W for all rows, so completion token j of every row sits at position W + j and the logits
that predict it at W + j - 1: one slice, no per-row gathers. Position ids follow the attention
mask (as ``generate`` computes them with left padding), so the log-probs of the update match
those of the rollout. `funcall.trainers.policy_forward.token_logps_and_entropy` returns, for the completion positions only, the
log-prob of each taken token and the entropy of the policy there; it asks the model's decoder for
its hidden states and runs the output layer over the completion positions only, a
chunk at a time (`funcall.models.output_layer`), which matters with 150k-token vocabularies.

`micro_batches` cuts a rollout into micro-batches of rows of similar length, each padded only
to its own longest row (outputs are written back into ``[N, C]`` tensors): with prompts of 100
to 300 tokens, one shared padding width wastes a third of every forward and backward pass.

Shared prompts: the G samples of a prompt share it, and prompts are most of the tokens (about
120 prompt tokens to 64 completion tokens in the synthetic task). When a micro-batch holds whole
groups (``group`` > 1), the forward runs each prompt once (``[N / G, W]``, with its KV cache),
repeats the cache G times, and runs only the completions against it: the same log-probs and
gradients (autograd flows back through the repeated cache into the prompt pass), with the
prompt's share of the compute divided by G. Measured on the tiny model (4 prompts x 8 samples):
a forward and backward 2.2x faster, a no-grad pass 1.9x.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class RolloutBatch:
    input_ids: torch.Tensor  # [N, W + C]
    attention_mask: torch.Tensor  # [N, W + C]
    position_ids: torch.Tensor  # [N, W + C]
    completion_mask: torch.Tensor  # [N, C] 1 on real completion tokens
    prompt_width: int
    group: int = 1  # rows come in runs of `group` sharing one prompt (the prompt is run once per run)

    @property
    def completion_width(self) -> int:
        return self.completion_mask.shape[1]

    def rows(self, index: torch.Tensor) -> RolloutBatch:
        return RolloutBatch(self.input_ids[index], self.attention_mask[index], self.position_ids[index],
                            self.completion_mask[index], self.prompt_width)


def build_batch(prompts: list[list[int]], completions: list[list[int]], pad_id: int, group: int = 1) -> RolloutBatch:
    """``prompts[i]`` pairs with ``completions[i]`` (callers repeat each prompt per sample);
    ``group`` > 1 promises that rows come in runs of ``group`` with the same prompt."""
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
    return RolloutBatch(ids, mask, pos, cmask, width, group)


def micro_batches(prompts: list[list[int]], completions: list[list[int]], rows: torch.Tensor, size: int,
                  pad_id: int, group: int = 1) -> list[tuple[torch.Tensor, RolloutBatch]]:
    """``rows`` (indices into prompts/completions) cut into length-sorted micro-batches.

    With ``group`` > 1 (rows ``g*group .. g*group+group-1`` share a prompt), when ``rows`` are
    whole groups and ``size`` is a multiple of ``group``, micro-batches hold whole groups, sorted
    by length, and run each prompt once (see the module docstring); otherwise rows are sorted
    one by one."""
    grouped = _whole_groups(rows.tolist(), group, size)
    if grouped is not None:
        key = lambda g: max(len(prompts[i]) + len(completions[i]) for i in g)  # noqa: E731
        grouped.sort(key=key)
        per = size // group
        out = []
        for start in range(0, len(grouped), per):
            chunk = [i for g in grouped[start:start + per] for i in g]
            out.append((torch.tensor(chunk), build_batch([prompts[i] for i in chunk], [completions[i] for i in chunk],
                                                         pad_id, group)))
        return out
    ordered = sorted(rows.tolist(), key=lambda i: len(prompts[i]) + len(completions[i]))
    out = []
    for start in range(0, len(ordered), size):
        chunk = ordered[start:start + size]
        out.append((torch.tensor(chunk), build_batch([prompts[i] for i in chunk], [completions[i] for i in chunk],
                                                     pad_id)))
    return out


def _whole_groups(rows: list[int], group: int, size: int) -> list[list[int]] | None:
    """``rows`` as whole groups of ``group`` consecutive indices, or None when they are not."""
    if group <= 1 or size % group:
        return None
    members: dict[int, list[int]] = {}
    for i in rows:
        members.setdefault(i // group, []).append(i)
    if any(len(m) != group for m in members.values()):
        return None
    return [sorted(m) for m in members.values()]


def scatter_rows(out: torch.Tensor, rows: torch.Tensor, values: torch.Tensor) -> None:
    """Write ``values`` ``[n, c]`` into ``out[rows, :c]``."""
    out[rows, : values.shape[1]] = values
