"""Episode rewards for multi-turn RL: BFCL's multi-turn checker applied to a finished rollout.

Both read the ``episode`` column (one `funcall.envs.episode.EpisodeResult` per completion; the
multi-turn rollout fills it) and ignore ``prompts``, ``completions`` and every other column.

* `MultiTurnStateReward` (``multi_turn_state``): 1.0 iff the episode passes
  `funcall.bfcl.multi_turn.check_multi_turn`, else 0.0: the FunRL paper's strict binary reward
  carried to multi-turn. BFCL's release never checks a turn whose ground truth is empty (a
  miss_func or miss_param turn where the right answer is to call nothing); with
  ``strict_empty_turns=True`` a call in such a turn also gives 0.0.
* `MultiTurnTurnsReward` (``multi_turn_turns``): the fraction of checked turns that pass
  (`funcall.bfcl.multi_turn.turn_verdicts`, which goes on past a failed turn); an episode with
  no checked turn gets 1.0 if the model called nothing in it, else 0.0.

How they differ from the obvious version (compare the rollout's recorded ``final_state`` with a
replay of the ground truth, in-process): the model's calls are replayed from the initial state,
turn by turn beside the ground truth's, because BFCL compares states and results after every
turn, not only at the end. Replaying runs model output again, so it goes through an
`funcall.envs.worker.EnvPool` (parsed, never evaluated; in a child process, where a runaway call
such as ``power(base=2**62, exponent=2**62)`` is killed after ``timeout_s`` and becomes an error
result). Each reward owns one pool, started on its first call and reused; `close()` or
interpreter exit stops it.
"""
from __future__ import annotations

import atexit
from typing import Any

from funcall.bfcl.multi_turn import check_multi_turn, decoded_steps, turn_verdicts
from funcall.envs.episode import EpisodeResult
from funcall.envs.memory_env import is_memory_entry
from funcall.envs.worker import EnvPool
from funcall.utils.errors import ConfigError


class _EpisodeReward:
    __name__ = "episode_reward"

    def __init__(self, timeout_s: float = 10.0):
        self.timeout_s = float(timeout_s)
        self._pool: EnvPool | None = None

    @property
    def pool(self) -> EnvPool:
        if self._pool is None:
            self._pool = EnvPool(timeout_s=self.timeout_s)
            atexit.register(self.close)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def score(self, episode: EpisodeResult) -> float:
        raise NotImplementedError

    def __call__(self, prompts: list, completions: list, **columns: Any) -> list[float | None]:
        episodes = columns.get("episode")
        if episodes is None:
            raise ValueError(f"reward {self.__name__} needs multi-turn data (an episode column): "
                             "data=multi_turn_synthetic or data=bfcl_multi_turn")
        if any(episode is not None and is_memory_entry(episode.entry) for episode in episodes):
            raise ConfigError(f"reward={self.__name__} judges BFCL multi-turn state; memory questions "
                              "(data=bfcl_memory) are judged by their answer: reward=memory_answer")
        return [None if episode is None else self.score(episode) for episode in episodes]


def _called(turn: Any) -> bool:
    return bool(decoded_steps(turn))


class MultiTurnStateReward(_EpisodeReward):
    def __init__(self, strict_empty_turns: bool = False, timeout_s: float = 10.0):
        super().__init__(timeout_s)
        self.strict_empty_turns = strict_empty_turns
        self.__name__ = "multi_turn_state"

    def score(self, episode: EpisodeResult) -> float:
        if self.strict_empty_turns and isinstance(episode.output, list) and any(
                not truth and _called(turn) for truth, turn in zip(episode.ground_truth, episode.output)):
            return 0.0
        verdict = check_multi_turn(episode.entry, episode.ground_truth, episode.output, self.pool.open)
        return 1.0 if verdict["valid"] else 0.0


class MultiTurnTurnsReward(_EpisodeReward):
    def __init__(self, timeout_s: float = 10.0):
        super().__init__(timeout_s)
        self.__name__ = "multi_turn_turns"

    def score(self, episode: EpisodeResult) -> float:
        if not any(episode.ground_truth):  # nothing to check: no replay needed
            return 0.0 if isinstance(episode.output, list) and any(_called(turn) for turn in episode.output) else 1.0
        checked = [v for v in turn_verdicts(episode.entry, episode.ground_truth, episode.output, self.pool.open)
                   if v is not None]
        return sum(checked) / len(checked)
