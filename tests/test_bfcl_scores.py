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
    assert summary["categories"]["simple_java"] == {"accuracy": 0.5, "n": 100}


def test_missing_categories_are_left_out():
    summary = summarize({"simple_python": (1, 2), "multiple": (1, 1)})
    assert summary["non_live_ast"] == pytest.approx((0.5 + 1.0) / 2)
    assert summary["live"] is None and summary["overall"] is None and summary["irrelevance"] is None
    assert summarize({})["categories"] == {}
