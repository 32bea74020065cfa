"""BFCL memory: the agentic checker against the official labels, the backends in the environment
process (state carried between entries, nothing eval'ed), and 500 hostile transcripts."""
from __future__ import annotations

import gzip
import json
import random
import time

import pytest

from conftest import REPO
from funcall.envs.bfcl_data import installed_bfcl_data
from funcall.envs.memory_check import ANSWER_NOT_FOUND, NO_LAST_MESSAGE, check_agentic, is_call_step
from funcall.envs.memory_data import SCENARIOS, load_memory, with_memory_prompt
from funcall.envs.worker import EnvPool

DATA = installed_bfcl_data()
CORPUS = REPO / "tests" / "data" / "bfcl" / "memory_conformance.jsonl.gz"


def test_corpus_agrees_with_the_official_checker_on_valid_and_error_type():
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) >= 700 and {r["error_type"] for r in rows} >= {None, ANSWER_NOT_FOUND, NO_LAST_MESSAGE,
                                                                       "agentic:inference_error"}
    disagree = []
    for row in rows:
        verdict = check_agentic(row["model_result"], row["possible_answers"])
        if (verdict["valid"], verdict["error_type"]) != (row["valid"], row["error_type"]):
            disagree.append((row["id"], row["kind"], verdict["error_type"], row["error_type"]))
    assert not disagree, disagree[:5]


def test_the_last_message_is_the_answer_and_matching_ignores_case_and_punctuation():
    assert check_agentic([["[core_memory_retrieve(key='a')]", "{'answer': 'STRAWBERRY Matcha.'}"]],
                         ["strawberry matcha"])["valid"]
    # punctuation goes, spaces stay (the release's docstring says otherwise; its regex decides)
    assert check_agentic([["{'answer': 'strawberry-matcha'}"]], ["strawberry matcha"])["error_type"] == ANSWER_NOT_FOUND
    assert check_agentic([["{'answer': 'Seattle'}", "{'answer': 'I do not know'}"]], ["Seattle"])["error_type"] == ANSWER_NOT_FOUND
    assert check_agentic([["{'answer': 'Seattleite'}"]], ["Seattle"])["error_type"] == ANSWER_NOT_FOUND  # word boundary
    assert not is_call_step("f(a={})") and is_call_step("__import__('os').system('ls')")


def test_memory_is_carried_from_one_entry_to_the_next_in_the_child_process():
    kv = load_memory(DATA, "memory_kv", limit=1, scenarios=("notetaker",))
    first, question = kv.chains["notetaker"][0], kv.questions[0][0]
    assert first["id"].startswith("memory_kv_prereq_") and question["id"].startswith("memory_kv_")
    assert question["question"][0][0]["role"] == "system" and "'answer'" in question["question"][0][0]["content"]
    with EnvPool(timeout_s=20) as pool:
        env = pool.open()
        env.reset({**first, "memory_snapshot": None})
        assert env.execute(["core_memory_add(key='pet_name', value='Rex')"]) == ['{"status": "Key-value pair added."}']
        assert "snake_case" in env.execute(["core_memory_add(key='Not Snake', value='x')"])[0]
        state = env.state()["MemoryAPI_kv"]
        nxt = pool.open()
        nxt.reset({**question, "memory_snapshot": state["snapshot"]})
        assert nxt.execute(["core_memory_retrieve(key='pet_name')"]) == ['{"value": "Rex"}']
        prompted = with_memory_prompt(question, state["context"])
        system = prompted["question"][0][0]["content"]
        assert '"pet_name": "Rex"' in system and system.index("Core Memory") < system.index("'answer'")


HOSTILE_CALLS = [
    "__import__('os').system('touch {marker}')", "core_memory_add(key=__import__('os').getcwd(), value='x')",
    "core_memory_add(key='a', value=open('{marker}', 'w'))", "().__class__.__bases__[0].__subclasses__()",
    "memory_append(text=(lambda: open('{marker}', 'w'))())", "_flush_memory_to_local_file()",
    "core_memory_add(key='k', value='v' * 10**9)", "memory_update(text='\\udcff\\udcfe' * 5000)",
    "core_memory_add(**{{'key': 'a', 'value': 'b'}})", "memory_append(text=" + "[" * 300 + "]" * 300 + ")",
    "archival_memory_add(key='\\x00\\xff', value='\\ud800')", "core_memory_replace(key=[['a']], value={{'b': {{}}}})",
    "memory_replace(old_text='', new_text='x' * 20000)", "getattr(self, '__dict__')",
]


def hostile_transcript(rng: random.Random, marker: str) -> tuple[list, list[str]]:
    steps = []
    for _ in range(rng.randint(1, 6)):
        pick = rng.random()
        if pick < 0.5:
            steps.append("[" + rng.choice(HOSTILE_CALLS).format(marker=marker) + "]")
        elif pick < 0.7:
            steps.append("".join(chr(rng.randint(1, 0x10FFFF)) if rng.random() < 0.9 else "\udcff" for _ in range(rng.randint(0, 300))))
        elif pick < 0.85:
            steps.append("{'answer': " + "{" * rng.randint(1, 2000) + "'x'" + ", 'context': " + "[" * rng.randint(1, 50))
        else:
            steps.append("x" * rng.randint(10**5, 10**6))
    answers = [rng.choice(["Michael", "\udcffkey", "a(b)*c^d", "x" * 5000, ""])]
    return [steps], answers


def test_500_hostile_transcripts_are_scored_without_executing_anything(tmp_path):
    marker = str(tmp_path / "executed")
    rng = random.Random(0)
    started = time.perf_counter()
    verdicts = [check_agentic(*hostile_transcript(rng, marker)) for _ in range(500)]
    with EnvPool(timeout_s=5) as pool:  # and the calls themselves, on both backends
        for category in ("memory_kv", "memory_rec_sum"):
            entry = load_memory(DATA, category, limit=1, scenarios=SCENARIOS[:1]).questions[0][0]
            env = pool.open()
            env.reset({**entry, "memory_snapshot": None})
            results = env.execute([c.format(marker=marker) for c in HOSTILE_CALLS])
            assert len(results) == len(HOSTILE_CALLS) and all(isinstance(r, str) for r in results)
            json.dumps(env.state())  # the state stays JSON
    elapsed = time.perf_counter() - started
    assert len(verdicts) == 500 and all(v["error_type"] in (None, ANSWER_NOT_FOUND, NO_LAST_MESSAGE) for v in verdicts)
    assert not (tmp_path / "executed").exists()
    assert elapsed < 60, f"{elapsed:.1f} s"
    print(f"500 hostile memory transcripts scored in {elapsed:.2f} s")


@pytest.mark.parametrize("category", ["memory_kv", "memory_rec_sum"])
def test_every_question_has_its_scenario_chain(category):
    loaded = load_memory(DATA, category)
    assert len(loaded.questions) == 155 and set(loaded.chains) == set(SCENARIOS)
    assert all(e["id"].endswith(f"-{k}") for chain in loaded.chains.values() for k, e in enumerate(chain))
