"""The multi-turn agent's episode judges and the rewards agree on which kind of episode they judge.

A memory question's episode passes by its answer (BFCL's agentic rule), never by the multi-turn
state checker, and the multi-turn rewards refuse memory episodes with one line instead of
scoring them by the wrong rule.
"""
from __future__ import annotations

import pytest

from funcall.envs.episode import EpisodeResult
from funcall.eval.episode_judges import MemoryAnswerJudge
from funcall.rewards.memory_answer import MemoryAnswerReward
from funcall.rewards.multi_turn import MultiTurnStateReward
from funcall.utils.errors import ConfigError

MEMORY_ENTRY = {"id": "memory_kv_0", "involved_classes": ["MemoryAPI_kv"], "question": [[{"role": "user", "content": "?"}]]}


def log(*assistant: str) -> list[list[dict]]:
    return [[{"role": "user", "content": "Where do I work?"}, *({"role": "assistant", "content": a} for a in assistant)]]


def test_a_memory_episode_passes_by_its_last_answer():
    judge = MemoryAnswerJudge()
    truth = [["Acme Corp"]]
    assert judge(MEMORY_ENTRY, truth, [], log("[core_memory_retrieve(key='employer')]", "You work at Acme Corp."), None) \
        == (True, [])
    assert judge(MEMORY_ENTRY, truth, [], log("You work at Initech."), None)[0] is False
    assert judge(MEMORY_ENTRY, truth, [], log("[core_memory_retrieve(key='employer')]"), None)[0] is False  # no answer


def test_rewards_judge_memory_episodes_only_by_their_answer():
    episode = EpisodeResult(entry=MEMORY_ENTRY, ground_truth=[["Acme Corp"]], output=[[]],
                            turns=log("You work at Acme Corp."))
    assert MemoryAnswerReward()([""], [""], episode=[episode]) == [1.0]
    with pytest.raises(ConfigError, match="reward=memory_answer"):
        MultiTurnStateReward()([""], [""], episode=[episode])
    with pytest.raises(ConfigError, match="data=bfcl_memory"):
        MemoryAnswerReward()([""], [""])
