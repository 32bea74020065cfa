"""The contracts of the losses, and the step sizes they are normalised by.

SFT: the trainer computes ``token_nll`` (``[batch, time]``, 0 where there is no target) once from
the logits; losses only decide how to average it. ``spans`` holds `funcall.data.tokenize` labels
(PROMPT, THINK, CALL) for the same positions. That keeps them small, exact to unit-test on
hand-made tensors, and free of model details.

How it differs from the obvious version: a loss is called once per micro-batch, but what it
averages over is the whole optimizer step (every micro-batch of gradient accumulation, every
rank). The trainer counts the step's target tokens once (`SpanCounts`, summed over micro-batches
and ranks) and the loss returns this micro-batch's additive *share* of the step loss (its sum over
the step's count), so the shares add up to the exact step mean whatever ``grad_accum``, the
micro-batch size or the number of ranks. A per-micro-batch mean, averaged over micro-batches,
would weigh a token of a short micro-batch more than one of a long micro-batch. Metrics follow the
same rule. Called without counts, the micro-batch is the whole step (unit tests, one batch).

RL: `PolicyLoss` (funcall.losses.policy) follows the same rule with `BatchSize`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from funcall.data.spans import CALL, PROMPT, THINK


@dataclass(frozen=True)
class SpanCounts:
    """Sizes of one optimizer step, summed over its micro-batches and ranks."""

    target: float  # target tokens (reasoning + call)
    think: float  # reasoning tokens
    call: float  # call tokens
    think_seqs: float  # sequences with at least one reasoning token
    call_seqs: float  # sequences with at least one call token
    parts: int = 1  # loss calls the step is made of (micro-batches x ranks); a per-step term adds 1/parts per call

    @staticmethod
    def of(spans: torch.Tensor) -> SpanCounts:
        think, call = spans == THINK, spans == CALL
        return SpanCounts(float((spans != PROMPT).sum()), float(think.sum()), float(call.sum()),
                          float(think.any(1).sum()), float(call.any(1).sum()))

    def values(self) -> list[float]:
        return [self.target, self.think, self.call, self.think_seqs, self.call_seqs]


class SFTLoss(Protocol):
    def __call__(self, token_nll: torch.Tensor, spans: torch.Tensor, counts: SpanCounts | None = None,
                 ) -> tuple[torch.Tensor, dict[str, float]]:
        """This micro-batch's share of the step loss, and the metrics' shares."""
        ...

    def parameter_groups(self) -> list[dict]:
        """Optimizer groups for the loss's own parameters (e.g. a learnable weight with its own
        learning rate); [] for a loss without parameters."""
        ...


class PolicyLoss(Protocol):
    uses_reference: bool  # reads ``ref_logps`` (a KL term): the trainer builds a frozen reference model
    uses_entropy: bool  # reads the policy's entropy under gradient: the update computes it
    corrects_rollout: bool  # reads ``rollout_logps`` (the engine's) beside recomputed ``old_logps``

    def __call__(self, logps: torch.Tensor, old_logps: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                 ref_logps: torch.Tensor | None = None, entropy: torch.Tensor | None = None, size=None,
                 rollout_logps: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        ...


def span_means(token_nll: torch.Tensor, spans: torch.Tensor, per_sample: bool = False,
               counts: SpanCounts | None = None):
    """This micro-batch's shares of the step's mean NLL over reasoning tokens and over call tokens
    (0 for a span with no tokens).

    ``per_sample`` averages within each sequence first, then over the sequences that have the
    span; otherwise every token of the step counts once.
    """
    counts = counts or SpanCounts.of(spans)
    out = []
    for label, tokens, seqs in ((THINK, counts.think, counts.think_seqs), (CALL, counts.call, counts.call_seqs)):
        mask = (spans == label).to(token_nll.dtype)
        if per_sample:
            per_seq = (token_nll * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            out.append(per_seq.sum() / max(seqs, 1.0))
        else:
            out.append((token_nll * mask).sum() / max(tokens, 1.0))
    return out[0], out[1]
