"""BFCL v4's leaderboard summary (`funcall.bfcl.leaderboard`) against bfcl-eval's own summary code.

bfcl-eval's ``eval_runner_helper`` is imported as installed and run on fixed per-category scores:
its helper functions composed exactly as its ``generate_leaderboard_csv`` composes them (equality
to the last bit), and ``generate_leaderboard_csv`` itself (its CSV files, to the two decimals it
prints). The installed package is ``--no-deps``: its model table module imports every API client,
so the test builds the one thing that function needs from it, a model name table with one model
(display name, link, organisation, licence, no prices), in place of that module. Nothing of
bfcl-eval's scoring is replaced.
"""
from __future__ import annotations

import csv
import importlib
import sys
import types

import pytest

from funcall.bfcl.leaderboard import ENTRY_COUNTS, MEMORY, SCORING, WEB_SEARCH, format_leaderboard, leaderboard
from funcall.eval.bfcl_report import format_table, score_rows

MODEL = "funcall-test-model"
# (correct, n): uneven accuracies and counts, so weighted and unweighted means differ in the 2nd decimal
COUNTS = {
    "simple_python": (301, 400), "simple_java": (47, 100), "simple_javascript": (19, 50), "multiple": (171, 200),
    "parallel": (133, 200), "parallel_multiple": (97, 200), "irrelevance": (227, 240), "live_simple": (201, 258),
    "live_multiple": (700, 1053), "live_parallel": (5, 16), "live_parallel_multiple": (20, 24),
    "live_irrelevance": (601, 884), "multi_turn_base": (91, 200), "multi_turn_miss_func": (60, 200),
    "multi_turn_miss_param": (41, 200), "multi_turn_long_context": (77, 200), "memory_kv": (53, 155),
    "memory_vector": (40, 155), "memory_rec_sum": (71, 155), "web_search_base": (33, 100),
    "web_search_no_snippet": (21, 100),
}
OFFLINE = {k: v for k, v in COUNTS.items() if k not in WEB_SEARCH}  # what funcall runs without a key
SCENARIOS = {
    "everything": COUNTS,
    "offline": {k: v for k, v in OFFLINE.items() if k != "memory_vector"},
    "some_single_turn": {k: COUNTS[k] for k in ("simple_python", "multiple", "live_simple", "live_parallel",
                                                "irrelevance", "multi_turn_base")},
    "limited": {k: (c % 3, 3) for k, (c, _) in OFFLINE.items()},  # eval.limit=3: counts far from the data's
}


def categories_of(counts: dict[str, tuple[int, int]]) -> dict[str, dict]:
    return {name: {"accuracy": c / n, "n": n, "not_run": 0} for name, (c, n) in counts.items()}


@pytest.fixture
def official(monkeypatch, tmp_path):
    """bfcl-eval's eval_runner_helper, imported with a one-model name table (see the docstring)."""
    pytest.importorskip("bfcl_eval")
    monkeypatch.setenv("BFCL_PROJECT_ROOT", str(tmp_path / "bfcl_root"))  # where bfcl-eval makes result/, score/
    monkeypatch.delenv("WANDB_BFCL_PROJECT", raising=False)
    table = types.ModuleType("bfcl_eval.constants.model_config")
    table.MODEL_CONFIG_MAPPING = {MODEL: types.SimpleNamespace(
        display_name=MODEL, url="https://example.org/model", org="funcall", license="none",
        input_price=None, output_price=None)}
    name = "bfcl_eval.eval_checker.eval_runner_helper"
    monkeypatch.setitem(sys.modules, "bfcl_eval.constants.model_config", table)
    monkeypatch.delitem(sys.modules, name, raising=False)
    helper = importlib.import_module(name)
    monkeypatch.setitem(sys.modules, name, helper)  # gone again after the test
    return helper


def official_summary(helper, counts: dict[str, tuple[int, int]]) -> dict[str, float]:
    """generate_leaderboard_csv's composition, through bfcl-eval's own functions."""
    value = {name: {"accuracy": c / n, "total_count": n} for name, (c, n) in counts.items()}

    def score(name):
        return helper.get_category_score(value, name)

    unweighted, weighted = helper.calculate_unweighted_accuracy, helper.calculate_weighted_accuracy
    simple = unweighted([score("simple_python"), score("simple_java"), score("simple_javascript")])
    non_live = unweighted([simple, score("multiple"), score("parallel"), score("parallel_multiple")],
                          display_na_if_category_missing=False)
    live = weighted([score(c) for c in ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")],
                    display_na_if_category_missing=False)
    multi_turn = unweighted([score(c) for c in ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param",
                                                "multi_turn_long_context")], display_na_if_category_missing=False)
    web_search = unweighted([score(c) for c in WEB_SEARCH])
    memory = unweighted([score("memory_kv"), score("memory_vector"), score("memory_rec_sum")])
    agentic = unweighted([web_search, memory], display_na_if_category_missing=False)
    irrelevance = unweighted([score("irrelevance"), score("live_irrelevance")])
    overall = helper.calculate_percentage_weighted_accuracy([non_live, live, irrelevance, multi_turn, agentic],
                                                            [10, 10, 10, 30, 40], display_na_if_category_missing=False)
    parts = {"non_live": non_live, "live": live, "irrelevance": irrelevance, "multi_turn": multi_turn,
             "agentic": agentic, "web_search": web_search, "memory": memory, "overall": overall}
    return {k: v["accuracy"] for k, v in parts.items()}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_equal_to_bfcl_eval_summary_functions(official, scenario):
    counts = SCENARIOS[scenario]
    expected = official_summary(official, counts)
    board = leaderboard(categories_of(counts))
    for key in ("non_live", "live", "irrelevance", "multi_turn", "agentic", "web_search", "memory"):
        assert board[key] == expected[key], key
    assert board["overall_with_missing_as_zero"] == expected["overall"]
    complete = scenario == "everything"
    assert (board["overall"] == expected["overall"]) if complete else board["overall"] is None
    assert [m["category"] for m in board["not_run"]] == [c for c in SCORING if c not in counts]


@pytest.mark.parametrize("scenario", ["everything", "offline"])
def test_equal_to_bfcl_eval_leaderboard_csv(official, scenario, tmp_path):
    counts = SCENARIOS[scenario]
    table = {MODEL: {name: {"accuracy": c / n, "total_count": n} for name, (c, n) in counts.items()}}
    official.generate_leaderboard_csv(table, tmp_path)
    board = leaderboard(categories_of(counts))

    def row(file):
        with open(tmp_path / file) as f:
            return next(iter(csv.DictReader(f)))

    def printed(value):
        return f"{100 * value:.2f}%"

    overall = row("data_overall.csv")
    assert overall["Overall Acc"] == printed(board["overall_with_missing_as_zero"])
    assert overall["Live Acc"] == printed(board["live"]) and overall["Multi Turn Acc"] == printed(board["multi_turn"])
    assert overall["Irrelevance Detection"] == printed(board["irrelevance"])
    assert row("data_agentic.csv")["Agentic Overall Acc"] == printed(board["agentic"])
    assert row("data_non_live.csv")["Non-Live Overall Acc"] == printed(board["non_live"])
    if scenario == "offline":  # bfcl-eval prints N/A for a group with a category not run, and counts it as 0
        assert overall["Web Search Acc"] == "N/A" and overall["Memory Acc"] == "N/A"


def test_entry_counts_are_bfcl_evals(official):
    from bfcl_eval.utils import load_dataset_entry

    for name in SCORING:
        assert ENTRY_COUNTS[name] == len(load_dataset_entry(name, include_prereq=False,
                                                            include_language_specific_hint=False)), name


def test_offline_overall_reweights_what_ran():
    categories = categories_of(OFFLINE)
    categories["memory_vector"] = {"accuracy": 0.0, "n": 155, "not_run": 155,
                                   "reason": "no embedding model (eval.memory.embedding_model)"}
    board = leaderboard(categories)
    # what ran carries all but web search (40% / 2) and memory_vector (40% / 2 / 3) of the weight
    covered = 1 - 0.2 - 0.2 / 3
    assert board["covered_weight"] == pytest.approx(covered)
    assert board["offline_overall"] == pytest.approx(board["overall_with_missing_as_zero"] / covered)
    memory = (53 / 155 + 71 / 155) / 2
    assert board["offline"]["memory"] == pytest.approx(memory) and board["offline"]["web_search"] is None
    assert board["offline"]["agentic"] == pytest.approx(memory)  # the half that ran, alone
    assert board["memory"] == pytest.approx((53 / 155 + 0 + 71 / 155) / 3)  # the leaderboard's: missing = 0
    by_name = {m["category"]: m for m in board["not_run"]}
    assert sorted(by_name) == ["memory_vector", "web_search_base", "web_search_no_snippet"]
    assert by_name["memory_vector"]["reason"] == "no embedding model (eval.memory.embedding_model)"
    assert by_name["web_search_base"]["entries"] == 100 and "API key" in by_name["web_search_base"]["reason"]
    text = format_leaderboard(board)
    assert f"offline_overall                      {100 * board['offline_overall']:.2f}" in text
    assert "not run: memory_vector (155 entries): no embedding model" in text


def test_a_category_cut_for_long_prompts_counts_as_run():
    """Entries not run for an over-long prompt are wrong, not missing: only a ``reason`` marks a part not run."""
    categories = categories_of(COUNTS)
    categories["memory_kv"] = {"accuracy": 0.0, "n": 155, "not_run": 155}
    board = leaderboard(categories)
    assert board["overall"] == board["overall_with_missing_as_zero"] == board["offline_overall"]
    assert board["not_run"] == []


def test_scores_file_keeps_reasons_and_format_sensitivity_across_tasks():
    earlier = score_rows([], [], None)
    earlier["categories"] = {"memory_vector": {"accuracy": 0.0, "n": 155, "not_run": 155, "reason": "no model"},
                             "memory_kv": {"accuracy": 0.5, "n": 2, "not_run": 0}}
    earlier["format_sensitivity"] = {"accuracy_max_delta": 12.5, "accuracy_std": 3.1}
    rows = [{"id": "simple_python_0", "category": "simple_python", "valid": True, "parse": "calls"},
            {"id": "web_search_base_0", "category": "web_search_base", "valid": False, "not_run": True,
             "not_run_reason": "no search API key"}]
    scores = score_rows(rows, ["simple_python"], earlier)
    assert scores["categories"]["memory_vector"]["reason"] == "no model"
    assert scores["format_sensitivity"] == earlier["format_sensitivity"]
    board = scores["leaderboard"]
    reasons = {m["category"]: m["reason"] for m in board["not_run"]}
    assert reasons["memory_vector"] == "no model" and reasons["web_search_base"] == "no search API key"
    assert "memory_kv" not in reasons and "simple_python" not in reasons
    assert board["format_sensitivity"] == {"max_delta": 12.5, "std": 3.1}
    assert format_table(scores).splitlines()[-1].split()[:2] == ["overall", "(papers)"]


def test_memory_and_web_search_names_are_bfcl_evals():
    pytest.importorskip("bfcl_eval")
    from bfcl_eval.constants.category_mapping import MEMORY_CATEGORY, WEB_SEARCH_CATEGORY

    assert set(MEMORY) == set(MEMORY_CATEGORY) and set(WEB_SEARCH) == set(WEB_SEARCH_CATEGORY)
