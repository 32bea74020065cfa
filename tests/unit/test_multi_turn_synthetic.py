"""The seeded multi-turn task generator: deterministic, valid by execution (every ground truth passes
the multi-turn checker), with miss_param / miss_func turns where BFCL puts them, turns that need
an earlier result, disjoint splits, and nothing copied from BFCL's own multi-turn entries."""
from __future__ import annotations

import json
import subprocess
import sys
from functools import cache

from conftest import REPO
from funcall.bfcl.multi_turn import check_multi_turn
from funcall.data.multi_turn_synthetic import MultiTurnTasks, generate, held_out, self_check
from funcall.envs.bfcl_data import MULTI_TURN_CATEGORIES, installed_bfcl_data, load_multi_turn
from funcall.envs.bfcl_env import BFCLEnvironment
from funcall.envs.calls import parse_env_call

N = 200


@cache
def tasks(split: str = "train", n: int = N, seed: int = 0) -> tuple:
    return tuple(generate(seed, split, i) for i in range(n))


def user_texts(entry: dict) -> list[str]:
    return [m["content"] for turn in entry["question"] for m in turn]


def test_deterministic_and_seeded():
    for i in range(15):
        assert json.dumps(generate(3, "train", i)) == json.dumps(generate(3, "train", i))
    assert MultiTurnTasks(seed=3, size=5)[2] == generate(3, "train", 2) and len(MultiTurnTasks(size=7)) == 7
    assert [generate(3, "train", i)[0]["question"] for i in range(10)] != [generate(4, "train", i)[0]["question"] for i in range(10)]


def test_shape_classes_and_reasoning():
    classes = set()
    for entry, truth in tasks():
        classes.update(entry["involved_classes"])
        assert 2 <= len(entry["question"]) <= 5 and len(truth) == len(entry["question"])
        assert [[c for step in steps for c in step] for steps in entry["steps"]] == truth
        for steps, reasoning in zip(entry["steps"], entry["reasoning"]):
            assert len(reasoning) == max(1, len(steps))
            for step, why in zip(steps, reasoning):  # each step's think text names its calls and values
                for c in step:
                    call = parse_env_call(c)
                    assert call.name in why and all(repr(v) in why for v in call.kwargs.values()), (c, why)
        assert json.loads(json.dumps(entry)) == entry
    assert len(classes) >= 4, classes


def test_every_ground_truth_passes_the_checker():
    for entry, truth in tasks():
        entry = json.loads(json.dumps(entry))  # as read back from a JSONL file
        assert self_check(entry, truth)["valid"], entry["id"]
        one_step = [[list(turn)] if turn else [] for turn in truth]
        assert check_multi_turn(entry, truth, one_step, BFCLEnvironment)["valid"], entry["id"]


def test_miss_param_turns_ask_and_the_next_turn_supplies_the_value():
    found = 0
    for entry, truth in tasks():
        if entry["category"] != "miss_param":
            continue
        found += 1
        empty = [k for k, turn in enumerate(truth) if not turn]
        assert len(empty) == 1 and "missed_function" not in entry
        k = empty[0]
        assert entry["question"][k] and entry["question"][k + 1] and truth[k + 1]
        assert entry["replies"][k].endswith("?")
    assert found >= 15


def test_miss_func_turns_withhold_a_doc_until_the_next_turn():
    found = 0
    for entry, truth in tasks():
        if entry["category"] != "miss_func":
            continue
        found += 1
        (turn, docs), = entry["missed_function"].items()
        k = int(turn) - 1
        name = docs[0]["name"]
        assert truth[k] == [] and entry["question"][k] and entry["question"][k + 1] == [] and truth[k + 1]
        assert name not in {d["name"] for d in entry["function"]}
        assert any(c.startswith(name + "(") for c in truth[k + 1])
        assert not any(c.startswith(name + "(") for turn_calls in truth[:k] for c in turn_calls)
    assert found >= 20


def _values(value) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _values(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _values(v)]
    text = str(value)
    return [text] if len(text) >= 3 and not isinstance(value, bool) else []


def test_some_turns_need_a_value_from_an_earlier_result():
    dependent = 0
    for entry, _ in tasks():
        env = BFCLEnvironment()
        env.reset(entry)
        results, said, hit = [], "", False
        for question, steps in zip(entry["question"], entry["steps"]):
            said += " ".join(m["content"] for m in question)
            for step in steps:
                for c in step:
                    call = parse_env_call(c)
                    values = [v for arg in call.kwargs.values() for v in _values(arg)]
                    hit = hit or any(v not in said and any(v in r for r in results) for v in values)
                results += env.execute(step)
        dependent += hit
    assert dependent >= N * 0.5, dependent


def test_no_request_text_or_initial_state_is_bfcl_s():
    data = installed_bfcl_data()
    texts, configs = set(), []
    for category in MULTI_TURN_CATEGORIES:
        for entry, _ in load_multi_turn(data, category):
            texts.update(user_texts(entry))
            configs.append(entry["initial_config"])
    assert len(texts) > 500
    generated = list(tasks("train", 400)) + list(tasks("heldout", 100))
    for entry, _ in generated:
        assert not set(user_texts(entry)) & texts, entry["id"]
        assert entry["initial_config"] not in configs, entry["id"]


def test_train_and_held_out_texts_are_disjoint():
    train = {t for entry, _ in tasks("train", 400) for t in user_texts(entry)}
    held = held_out(seed=0, n=100)
    assert held == list(tasks("heldout", 100))
    held_texts = {t for entry, _ in held for t in user_texts(entry)}
    assert len(held_texts) > 200 and not train & held_texts


def test_importing_the_generator_loads_no_torch():
    code = "import sys, funcall.data.multi_turn_synthetic; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
