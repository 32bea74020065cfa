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


@pytest.mark.slow  # make test-full: keeps `make test` under 20 min on 2 cores (11 s; test_bfcl_offline_overall runs multi-turn on the tiny model)
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


def test_an_entry_whose_first_prompt_is_over_the_limit_is_not_run_and_wrong(tmp_path, tiny_model_dir):
    """The two shortest first prompts fit the limit (their conversations run, and end when they
    outgrow it: judged on what they did); the others never run: not judged, wrong, counted."""
    from funcall.data.prompts import PromptStyle, render_prompt
    from funcall.eval.bfcl_multi_turn import BFCLMultiTurnEval
    from funcall.models.load import load_tokenizer

    tok = load_tokenizer(str(tiny_model_dir))
    probe = BFCLMultiTurnEval(data_dir=installed_bfcl_data(), categories=["multi_turn_base"], limit=4,
                              prompt=PromptStyle(answer_format="python", tool_style="compact"))
    probe.load()
    first = {e["id"]: len(tok(render_prompt(tok, e["function"], e["question"][0], probe.style),
                              add_special_tokens=False)["input_ids"]) for e, _ in probe.pairs}
    limit = sorted(first.values())[1]
    over = {i for i, n in first.items() if n > limit}
    run = tmp_path / "run"
    proc = run_train(["eval=bfcl_multi_turn", "eval.limit=4", "eval.prompt.tool_style=compact",
                      "eval.bfcl_multi_turn.categories=[multi_turn_base]", "eval.bfcl_multi_turn.max_new_tokens=8",
                      "eval.bfcl_multi_turn.max_steps_per_turn=1", f"eval.bfcl_multi_turn.max_prompt_tokens={limit}",
                      "logger=none"], run, module="funcall.evaluate", timeout=600)
    rows = [json.loads(line) for line in (run / "bfcl_multi_turn_results.jsonl").read_text().splitlines()]
    assert len(over) == 2 and {r["id"] for r in rows if r["not_run"]} == over
    for r in rows:
        answered = any(m["role"] == "assistant" for turn in r["turns"] for m in turn)
        assert answered != r["not_run"]
        if r["not_run"]:
            assert (r["valid"], r["error_type"], r["ended_by"]) == (False, "not_run:prompt_too_long", "prompt_too_long")
    scores = json.loads((run / "bfcl_scores.json").read_text())
    correct = sum(r["valid"] for r in rows)
    # unparseable: the share of the steps of the conversations that ran (each step records its parse_error)
    steps = [m for r in rows for turn in r["turns"] for m in turn if m["role"] == "assistant"]
    unparseable = sum(m["parse_error"] is not None for m in steps) / len(steps)
    assert scores["categories"]["multi_turn_base"] == {"accuracy": correct / 4, "n": 4, "not_run": 2,
                                                       "unparseable": pytest.approx(unparseable)}
    assert scores["not_run"] == 2 and scores["multi_turn"] == correct / 4
    table = [line.split() for line in proc.stdout.splitlines() if line.split()[:1] in (["multi_turn_base"], ["multi_turn"])]
    assert table == [["multi_turn_base", "4", "2", f"{100 * correct / 4:.2f}", f"{100 * unparseable:.2f}"],
                     ["multi_turn", "4", "2", f"{100 * correct / 4:.2f}"]]
    assert "2 of 4 BFCL entries were not run" in proc.stdout + proc.stderr


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
