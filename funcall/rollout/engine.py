"""The rollout engine contract: token ids in, completion token ids out.

Trainers and evaluators depend only on this Protocol. `funcall.rollout.hf.HFEngine` implements
it with Hugging Face ``generate`` on the training engine's own weights; an inference server
(vLLM, SGLang) can implement it too (how to add a vLLM engine: experiments/benchmarks/README.md).
``generate`` must return, for every prompt and sample, the completion's token ids ending with
the EOS token when the model stopped (the trainer scores the EOS so the policy learns to stop),
and ``sync_weights`` must push the policy's current weights to the server before each rollout
phase.
"""
from __future__ import annotations

from typing import Protocol


class RolloutEngine(Protocol):
    def generate(self, prompts: list[list[int]], *, max_new_tokens: int, num_samples: int = 1,
                 temperature: float = 1.0, top_p: float = 1.0, greedy: bool = False,
                 with_stats: bool = False):
        """Completions for each prompt, ``num_samples`` per prompt, grouped by prompt.

        With ``with_stats`` a `funcall.rollout.hf.Rollouts` (ids plus, per token, the log-prob
        and the entropy under ``softmax(logits / temperature)``). An engine that cannot report
        them returns the plain id lists instead, and is run with ``trainer.recompute_logprobs=true``
        (old log-probs and entropies by one no-grad forward pass).
        """
        ...

    def sync_weights(self) -> None:
        """Make the next ``generate`` use the trainer's current weights."""
        ...
