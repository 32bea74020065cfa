"""How a played multi-turn episode is judged in held-out evaluation: a plug-in of the multi-turn agent.

An `EpisodeJudge` takes the task (BFCL's entry and its ground truth) and the played conversation
and says whether the episode passed, and which of its checked turns did. Two exist, one per kind
of environment, chosen by the agent config (``agent.judge``; the data configs pick the agent):
* `BFCLMultiTurnJudge` (``agent=multi_turn``): BFCL's multi-turn checker
  (`funcall.bfcl.multi_turn`), which replays the model's calls beside the ground truth's turn by
  turn on fresh environments from ``open_env`` (parsed, never evaluated; in the child process).
* `MemoryAnswerJudge` (``agent=memory``, selected by ``data=bfcl_memory``): BFCL's agentic rule
  on the episode's last message that is not a call (`funcall.envs.memory_check`); no turn is
  checked on its own.
The RL rewards judge the same way (``reward=multi_turn_state``, ``reward=memory_answer``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from funcall.bfcl.multi_turn import check_multi_turn, turn_verdicts
from funcall.envs.memory_check import check_agentic
from funcall.rewards.memory_answer import episode_steps


class EpisodeJudge(Protocol):
    def __call__(self, entry: dict, truth: list, output: list, log: list[list[dict]],
                 open_env: Callable[[], Any]) -> tuple[bool, list[bool]]:
        """(passed, the verdicts of the checked turns) of one played episode: ``output`` are the
        decoded calls of each turn's steps, ``log`` the turns' messages."""
        ...


class BFCLMultiTurnJudge:
    def __call__(self, entry, truth, output, log, open_env) -> tuple[bool, list[bool]]:
        passed = bool(check_multi_turn(entry, truth, output, open_env)["valid"])
        return passed, [v for v in turn_verdicts(entry, truth, output, open_env) if v is not None]


class MemoryAnswerJudge:
    def __call__(self, entry, truth, output, log, open_env) -> tuple[bool, list[bool]]:
        return bool(check_agentic(episode_steps(log), truth[0])["valid"]), []
