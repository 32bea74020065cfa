"""The rollout engine contract: token ids in, completion token ids out.

Trainers and evaluators depend only on this Protocol. `funcall.rollout.hf.HFEngine` implements
it with Hugging Face ``generate`` on the training engine's own weights;
`funcall.rollout.vllm_colocate.VLLMEngine` with vLLM in the training process and
`funcall.rollout.vllm_server.VLLMServerEngine` with a separately started ``vllm serve``.
``generate`` returns one type, `Rollouts`: for every prompt and sample, the completion's token
ids ending with the EOS token when the model stopped (the trainer scores the EOS so the policy
learns to stop), and the per-token statistics when asked for and known. ``sync_weights`` must
push the policy's current weights to the server before each rollout phase.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass
class Rollouts:
    """What ``generate`` returns: completions with, per generated token, its log-prob and the
    policy entropy there, under ``softmax(logits / temperature)``."""

    ids: list[list[int]]  # [prompts x samples] grouped by prompt
    logps: list[list[float]] | None = None  # None: not asked for (``with_stats=False``)
    entropies: list[list[float]] | None = None  # None: not asked for, or the engine cannot tell (the trainer recomputes)


class RolloutEngine(Protocol):
    def generate(self, prompts: list[list[int]], *, max_new_tokens: int, num_samples: int = 1,
                 temperature: float = 1.0, top_p: float = 1.0, greedy: bool = False,
                 with_stats: bool = False) -> Rollouts:
        """Completions for each prompt, ``num_samples`` per prompt, grouped by prompt.

        With ``with_stats`` the `Rollouts` also hold, per token, the log-prob and, if the engine
        can tell, the entropy (entropies None otherwise: the trainer computes them with its own
        forward pass). An engine that cannot report log-probs leaves ``logps`` None and is run
        with ``trainer.recompute_logprobs=true``.
        """
        ...

    def sync_weights(self) -> None:
        """Make the next ``generate`` use the trainer's current weights."""
        ...

    def release(self) -> None:
        """The rollout phase is over: free what the engine can until the next ``sync_weights``
        (vLLM's sleep mode); a no-op for an engine that holds nothing of its own."""
        ...
