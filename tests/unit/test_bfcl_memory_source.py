"""``data=bfcl_memory``: questions as examples, held out by question on every backend, the memory
prompt as the backend shows it, and the answer reward on hand-built episodes."""
from __future__ import annotations

import json

from funcall.data.memory_source import BFCLMemorySource, memory_context
from funcall.envs.bfcl_data import installed_bfcl_data
from funcall.envs.episode import EpisodeResult
from funcall.envs.worker import EnvPool
from funcall.rewards.memory_answer import MemoryAnswerReward

DATA = installed_bfcl_data()


def test_held_out_questions_are_held_out_on_every_backend(tmp_path):
    snapshots = {"memory_kv": {"customer": {"core_memory": {"first_name": "Michael"}, "archival_memory": {}}},
                 "memory_rec_sum": {"customer": {"memory": "Name: Michael"}}}
    (tmp_path / "snap.json").write_text(json.dumps(snapshots))
    source = BFCLMemorySource(DATA, snapshots=str(tmp_path / "snap.json"), eval_size=30, seed=1)
    train, held = source.train(), source.held_out()
    assert len(train) + len(held) == 2 * 155 and len(held) == 2 * 30
    def question(e) -> str:
        return e.id[len(e.category) + 1:]

    assert len({question(e) for e in held}) == 30 and not {question(e) for e in held} & {question(e) for e in train}
    kv = next(e for e in train + held if e.id == "memory_kv_0-customer-0")
    assert '"first_name": "Michael"' in kv.messages[0]["content"] and kv.meta["multi_turn"]["ground_truth"] == [["Michael"]]
    with EnvPool() as pool:  # the prompt shows what the backend itself would show
        for category, snapshot in (("memory_kv", None), ("memory_kv", snapshots["memory_kv"]["customer"]),
                                   ("memory_rec_sum", None), ("memory_rec_sum", snapshots["memory_rec_sum"]["customer"])):
            entry = next(e for e in train + held if e.category == category).meta["multi_turn"]["entry"]
            env = pool.open()
            env.reset({**entry, "memory_snapshot": snapshot})
            assert env.state()[entry["involved_classes"][0]]["context"] == memory_context(category, snapshot)


def test_the_reward_is_the_agentic_verdict_on_the_last_message():
    def episode(*steps: str) -> EpisodeResult:
        turns = [[{"role": "user", "content": "q"}, *({"role": "assistant", "content": s} for s in steps)]]
        return EpisodeResult(entry={}, ground_truth=[["Seattle"]], output=[], turns=turns)

    reward = MemoryAnswerReward()
    scores = reward([], [], episode=[episode("[core_memory_retrieve(key='city')]", "<think>x</think>\n{'answer': 'Seattle'}"),
                                     episode("{'answer': 'Seattle'}", "{'answer': 'I do not know'}"),
                                     episode("[core_memory_list_keys()]"), None])
    assert scores == [1.0, 0.0, 0.0, None]
