"""`python -m funcall.evaluate eval=bfcl_memory`: prerequisite conversations and questions on the tiny
model and on model=qwen3_small, the memory categories in bfcl_scores.json, memory_vector not run."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, run_train
from funcall.envs.memory_check import check_agentic
from funcall.eval.bfcl_memory import answer_text

# notetaker: the scenario with the shortest prerequisite conversations (5 of 4-5 turns)
SMALL = ["eval=bfcl_memory", "eval.limit=2", "eval.memory.scenarios=[notetaker]", "eval.memory.max_new_tokens=24",
         "eval.memory.max_steps_per_turn=2", "logger=none"]


def read_rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_run(run, proc) -> dict:
    scores = json.loads((run / "bfcl_scores.json").read_text())["categories"]
    assert set(scores) == {"memory_kv", "memory_rec_sum", "memory_vector"} and all(v["n"] == 2 for v in scores.values())
    assert scores["memory_vector"]["not_run"] == 2 and "embedding_model" in scores["memory_vector"]["reason"]
    rows = read_rows(run / "bfcl_memory_results.jsonl")
    assert [r["id"] for r in rows] == [f"memory_{b}_{i}-notetaker-{k}" for b in ("kv", "rec_sum", "vector")
                                       for i, k in ((130, 0), (131, 1))]
    for r in rows:
        if r["not_run"]:
            assert not r["valid"] and r["error_type"].startswith("not_run:")
            continue
        steps = [[answer_text(m["content"]) for m in turn if m["role"] == "assistant"] for turn in r["turns"]]
        again = check_agentic(steps, r["possible_answers"])  # the verdict is the checker's on the recorded steps
        assert (again["valid"], again["error_type"]) == (r["valid"], r["error_type"])
    for name in ("memory_kv", "memory_rec_sum"):
        mine = [r for r in rows if r["category"] == name]
        assert scores[name]["accuracy"] == sum(r["valid"] for r in mine) / 2
        assert scores[name]["not_run"] == sum(r["not_run"] for r in mine)
    prereq = read_rows(run / "bfcl_memory_prereq.jsonl")
    assert [r["id"] for r in prereq if "kv" in r["id"]] == [f"memory_kv_prereq_{32 + k}-notetaker-{k}" for k in range(5)]
    snapshots = json.loads((run / "bfcl_memory_snapshots.json").read_text())
    assert set(snapshots) == {"memory_kv", "memory_rec_sum"} and "memory" in snapshots["memory_rec_sum"]["notetaker"]
    assert "not run: memory_vector" in proc.stdout + proc.stderr
    return scores


@pytest.mark.slow  # the tiny model runs memory in make test as part of tests/e2e/test_bfcl_offline_overall.py
def test_evaluate_memory_on_the_tiny_model(tmp_path):
    run = tmp_path / "run"
    proc = run_train([*SMALL, "eval.prompt.tool_style=compact"], run, module="funcall.evaluate", timeout=900)
    check_run(run, proc)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["bfcl/memory_kv/n"] == 2 and summary["bfcl/memory_vector/not_run"] == 2


@pytest.mark.slow
def test_evaluate_memory_on_qwen3_small(tmp_path):
    run = tmp_path / "run"
    proc = run_train([*SMALL, "model=qwen3_small", "eval.prompt.answer_format=hermes"], run,
                     module="funcall.evaluate", timeout=900)
    scores = check_run(run, proc)
    assert scores["memory_kv"]["not_run"] == 0 and scores["memory_rec_sum"]["not_run"] == 0  # 8,192 positions fit


def test_an_unknown_scenario_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "funcall.evaluate", "eval=bfcl_memory", "logger=none",
                           "eval.memory.scenarios=[pirates]", f"hydra.run.dir={tmp_path}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: eval.memory.scenarios: unknown")
