"""``reward=memory_answer``, the RL reward of ``data=bfcl_memory`` episodes: 1 iff BFCL's agentic checker accepts the episode's
last message that is not a call (`funcall.envs.memory_check.check_agentic`), else 0.

It reads the ``episode`` column (`funcall.envs.episode.EpisodeResult`): the steps' texts from its
turns (after ``</think>``, as BFCL's Qwen handler records them) and the possible answers from its
``ground_truth`` (``[answers]``, as `funcall.data.memory_source` stores them). Nothing is replayed.
"""
from __future__ import annotations

from typing import Any

from funcall.envs.memory_check import check_agentic
from funcall.utils.errors import ConfigError


def episode_steps(turns: list[list[dict]]) -> list[list[str]]:
    """Turns -> the texts of the model's steps, as a prompting handler records them."""
    def text(content: str) -> str:
        return content.split("</think>")[-1].lstrip("\n") if "</think>" in content else content
    return [[text(m.get("content") or "") for m in turn if m.get("role") == "assistant"] for turn in turns]


class MemoryAnswerReward:
    __name__ = "memory_answer"

    def __call__(self, prompts: list, completions: list, **columns: Any) -> list[float | None]:
        episodes = columns.get("episode")
        if episodes is None:
            raise ConfigError("reward=memory_answer needs memory episodes (an episode column): data=bfcl_memory")
        return [None if ep is None else float(check_agentic(episode_steps(ep.turns), ep.ground_truth[0])["valid"])
                for ep in episodes]
