"""`python -m funcall.evaluate eval=bfcl_multi_turn`: conversations on the tiny model, the four
categories and multi_turn in bfcl_scores.json, every turn in bfcl_multi_turn_results.jsonl."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, run_train
from funcall.bfcl.multi_turn import check_multi_turn
from funcall.bfcl.scores import MULTI_TURN
from funcall.envs.bfcl_data import installed_bfcl_data, load_multi_turn
from funcall.envs.bfcl_env import BFCLEnvironment
from funcall.envs.conversation import call_strings

# the tiny model has a 1k-token context: BFCL's JSON tool listing alone is 7-15k tokens; signatures fit
TINY = ["eval.limit=2", "eval.prompt.tool_style=compact", "eval.bfcl_multi_turn.max_new_tokens=48",
        "eval.bfcl_multi_turn.max_steps_per_turn=2", "logger=none"]


def test_call_strings_execute_as_written():
    calls = [{"name": "cd", "arguments": {"folder": "doc's"}}, {"name": "mean", "arguments": {"numbers": [1, 2.5]}}]
    assert call_strings(calls) == ["cd(folder=\"doc's\")", "mean(numbers=[1, 2.5])"]


def test_evaluate_multi_turn_on_the_tiny_model(tmp_path):
    run = tmp_path / "run"
    proc = run_train(["eval=bfcl_multi_turn", *TINY], run, module="funcall.evaluate", timeout=900)
    scores = json.loads((run / "bfcl_scores.json").read_text())
    assert set(scores["categories"]) == set(MULTI_TURN) and all(v["n"] == 2 for v in scores["categories"].values())
    mean = sum(v["accuracy"] for v in scores["categories"].values()) / 4
    assert scores["multi_turn"] == pytest.approx(mean)
    rows = [json.loads(line) for line in (run / "bfcl_multi_turn_results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"{c}_{i}" for c in MULTI_TURN for i in range(2)]
    data = installed_bfcl_data()
    truth = {e["id"]: (e, gt) for c in MULTI_TURN for e, gt in load_multi_turn(data, c, 2)}
    for r in rows:
        assert r["ended_by"] in ("completed", "force_quit", "prompt_too_long")
        assert r["turns"][0][0]["role"] == "user" and any(m["role"] == "assistant" for m in r["turns"][0])
        steps = [m for turn in r["turns"] for m in turn if m["role"] == "assistant"]
        assert [len(s.get("results", s["calls"])) for s in steps] == [len(s["calls"]) for s in steps]
        # the verdict is the checker's on the recorded output (re-checked here in this process)
        entry, gt = truth[r["id"]]
        again = check_multi_turn(entry, gt, r["model_output"], BFCLEnvironment)
        assert (again["valid"], again["error_type"]) == (r["valid"], r["error_type"])
    assert "multi_turn" in proc.stdout and "conversations ended" in proc.stdout
    summary = json.loads((run / "summary.json").read_text())
    assert summary["bfcl/multi_turn"] == scores["multi_turn"]


@pytest.mark.slow
def test_single_and_multi_turn_in_one_run_share_the_scores_file(tmp_path):
    run = tmp_path / "run"
    run_train(["eval=[bfcl,bfcl_multi_turn]", "eval.categories=[simple_python,multiple]", "eval.max_new_tokens=16",
               *TINY], run, module="funcall.evaluate", timeout=900)
    scores = json.loads((run / "bfcl_scores.json").read_text())
    assert set(scores["categories"]) == {"simple_python", "multiple", *MULTI_TURN}
    assert scores["multi_turn"] is not None and scores["non_live_ast"] is not None


def test_an_unknown_multi_turn_category_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "funcall.evaluate", "eval=bfcl_multi_turn", "logger=none",
                           "eval.bfcl_multi_turn.categories=[multi_turn_everything]", f"hydra.run.dir={tmp_path}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: eval.bfcl_multi_turn.categories: unknown")
