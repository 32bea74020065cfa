"""All of BFCL v4 that runs offline in one command, the way the issue's users launch it:

    python -m funcall.evaluate 'eval=[bfcl,bfcl_multi_turn,bfcl_memory,bfcl_format_sensitivity]' model.path=...

on the tiny model with small limits. One bfcl_scores.json holds every task's categories, the
leaderboard block computed over all of them, the categories not run (web search without a key,
memory_vector without its embedding model) named with a reason, and an offline overall that
equals the weighted mean over the parts that ran.
"""
from __future__ import annotations

import json

import pytest

from conftest import run_train
from funcall.bfcl.leaderboard import leaderboard

ALL = ["eval=[bfcl,bfcl_multi_turn,bfcl_memory,bfcl_format_sensitivity]", "eval.limit=1", "logger=none",
       "eval.prompt.tool_style=compact", "eval.memory.scenarios=[notetaker]", "eval.memory.max_new_tokens=16",
       "eval.memory.max_steps_per_turn=1", "eval.bfcl_format_sensitivity.categories=[simple_python]",
       "eval.bfcl_format_sensitivity.max_new_tokens=16", "eval.bfcl_multi_turn.max_new_tokens=16"]


def test_every_offline_bfcl_task_in_one_run_and_the_leaderboard_over_them(tmp_path, tiny_model_dir):
    run = tmp_path / "run"
    run_train([*ALL, f"model.path={tiny_model_dir}"], run, module="funcall.evaluate", timeout=900)
    scores = json.loads((run / "bfcl_scores.json").read_text())
    cats = scores["categories"]
    for name in ("simple_python", "live_multiple", "irrelevance", "multi_turn_base", "memory_kv", "memory_rec_sum"):
        assert cats[name]["n"] >= 1, name  # single-turn, multi-turn and memory all wrote into one file
    assert cats["memory_vector"]["not_run"] == cats["memory_vector"]["n"] and cats["memory_vector"]["reason"]
    board = scores["leaderboard"]
    assert board == leaderboard(cats, scores.get("format_sensitivity"))  # recomputed over every task's categories
    missing = {m["category"] if isinstance(m, dict) else m for m in board["not_run"]}
    assert {"web_search_base", "web_search_no_snippet", "memory_vector"} <= missing
    assert board["overall"] is None  # a partial run never prints as the leaderboard's overall
    assert 0 < board["covered_weight"] < 1
    assert abs(board["offline_overall"] * board["covered_weight"] - board["overall_with_missing_as_zero"]) < 1e-9
    fs = scores["format_sensitivity"]
    assert len([key for key in fs if "=" in key]) == 26  # one accuracy per configuration, as bfcl-eval reports
    assert fs["accuracy_max_delta"] >= 0 and fs["accuracy_std"] >= 0


@pytest.mark.slow
def test_the_same_on_qwen3_small_with_its_real_template(tmp_path):
    run = tmp_path / "run"
    run_train([*ALL, "model=qwen3_small", "eval.prompt.answer_format=hermes"], run, module="funcall.evaluate", timeout=1800)
    scores = json.loads((run / "bfcl_scores.json").read_text())
    assert scores["categories"]["memory_kv"]["not_run"] == 0  # 8,192 positions: the memory prompts fit
    assert scores["leaderboard"] == leaderboard(scores["categories"], scores.get("format_sensitivity"))
    assert scores["leaderboard"]["offline_overall"] is not None
