"""Category aggregation as the papers compute it."""

from __future__ import annotations

import pytest

from funcall.bfcl.scores import summarize


def test_summary_hand_computed():
    per_category = {
        "simple_python": (300, 400), "simple_java": (50, 100), "simple_javascript": (25, 50),  # .75 .5 .5
        "multiple": (180, 200), "parallel": (160, 200), "parallel_multiple": (140, 200),  # .9 .8 .7
        "live_simple": (200, 250), "live_multiple": (700, 1000), "live_parallel": (10, 16), "live_parallel_multiple": (12, 24),
        "irrelevance": (200, 240), "live_irrelevance": (600, 880),
    }
    summary = summarize(per_category)
    simple = (0.75 + 0.5 + 0.5) / 3
    assert summary["simple"] == pytest.approx(simple)
    assert summary["non_live_ast"] == pytest.approx((simple + 0.9 + 0.8 + 0.7) / 4)
    assert summary["live"] == pytest.approx((200 + 700 + 10 + 12) / (250 + 1000 + 16 + 24))
    assert summary["irrelevance"] == pytest.approx(800 / 1120)
    assert summary["overall"] == pytest.approx((summary["non_live_ast"] + summary["live"]) / 2)
    assert summary["categories"]["simple_java"] == {"accuracy": 0.5, "n": 100, "not_run": 0}
    assert summary["not_run"] == 0


def test_missing_categories_are_left_out():
    summary = summarize({"simple_python": (1, 2), "multiple": (1, 1)})
    assert summary["non_live_ast"] == pytest.approx((0.5 + 1.0) / 2)
    assert summary["live"] is None and summary["overall"] is None and summary["irrelevance"] is None
    assert summarize({})["categories"] == {}


def test_entries_not_run_count_as_wrong_and_are_counted_apart():
    """(correct, n, not_run): the unrun entries are in n and never in correct, so an irrelevance
    category whose prompts all overflowed scores 0, not the 100% an empty answer would get."""
    summary = summarize({"irrelevance": (0, 4, 4), "live_irrelevance": (3, 6, 2), "simple_python": (1, 2)})
    assert summary["categories"]["irrelevance"] == {"accuracy": 0.0, "n": 4, "not_run": 4}
    assert summary["categories"]["live_irrelevance"] == {"accuracy": 0.5, "n": 6, "not_run": 2}
    assert summary["categories"]["simple_python"]["not_run"] == 0
    assert summary["irrelevance"] == pytest.approx(3 / 10) and summary["not_run"] == 6
