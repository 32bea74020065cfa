"""What one finished multi-turn episode holds: the record episode rewards and tables read.

A multi-turn rollout (`funcall.agents.multi_turn`) ends each episode with an `EpisodeResult`;
rewards take a list of them as the ``episode`` column, beside TRL's ``prompts`` and
``completions`` (`funcall.rewards.multi_turn`). It is plain data (JSON-safe but for nothing), so
rewards are unit-tested on hand-built episodes, without a model or a rollout.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EpisodeResult:
    entry: dict  # the task in BFCL's multi-turn format (question, initial_config, involved_classes, function, ...)
    ground_truth: list[list[str]]  # turns -> the ground truth's call strings
    output: list[list[list[str]]]  # turns -> steps -> the call strings the model's answers decoded to (BFCL's model_output)
    turns: list[list[dict]] = field(default_factory=list)  # turns -> messages added in that turn (user, assistant with calls/results, tool)
    ended_by: str = "completed"  # completed | force_quit | episode_tokens (agent.max_episode_tokens spent) | prompt_too_long
    final_state: dict[str, dict[str, Any]] = field(default_factory=dict)  # the environment's public state at the end, by class
    steps_cut: int = 0  # steps a token budget cut before the model ended them

    @property
    def calls(self) -> int:
        """Calls the model made over the episode."""
        return sum(len(step) for turn in self.output for step in turn)

    @property
    def steps(self) -> int:
        """Assistant messages of the episode (steps with and without calls)."""
        return sum(1 for turn in self.turns for m in turn if m.get("role") == "assistant")
