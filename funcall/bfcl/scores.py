"""Aggregate per-category BFCL results into the numbers the papers report, and BFCL's multi-turn score.

    non_live_ast = unweighted mean of [simple, multiple, parallel, parallel_multiple], where
                   simple = unweighted mean of simple_python, simple_java, simple_javascript
                   (BFCL's own formula: calculate_unweighted_accuracy in eval_runner_helper.py)
    live         = entry-weighted accuracy over live_simple, live_multiple, live_parallel,
                   live_parallel_multiple (BFCL's calculate_weighted_accuracy)
    overall      = mean(non_live_ast, live)  (the papers' "Overall"; not BFCL's official overall)
    irrelevance  = entry-weighted accuracy over irrelevance and live_irrelevance (reported apart)
    multi_turn   = unweighted mean of multi_turn_base, _miss_func, _miss_param, _long_context
                   (as BFCL's leaderboard reports its multi-turn column)

Difference from BFCL: a category that was not evaluated is left out of every mean (BFCL counts it
as 0 and displays N/A). A group with no category present is None, and so is `overall` unless both
of its halves are present. Every accuracy is a fraction in [0, 1].

Entries that were never run (a prompt longer than the model's context minus the answer budget)
are counted in ``n`` and as wrong, never as right: an irrelevance entry left unanswered is not a
correct abstention. Each category, and the whole, also report how many entries that was
(``not_run``), so a score made of unrun entries cannot pass for a measured one.
"""

from __future__ import annotations

from funcall.envs.bfcl_data import MULTI_TURN_CATEGORIES

SIMPLE = ("simple_python", "simple_java", "simple_javascript")
NON_LIVE_GROUPS = ("simple", "multiple", "parallel", "parallel_multiple")
LIVE = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")
IRRELEVANCE = ("irrelevance", "live_irrelevance")
MULTI_TURN = MULTI_TURN_CATEGORIES


def _accuracy(correct: int, n: int) -> float:
    return correct / n if n else 0.0


def _unweighted(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _weighted(per_category: dict[str, tuple[int, int]], names: tuple[str, ...]) -> float | None:
    present = [per_category[name] for name in names if name in per_category and per_category[name][1] > 0]
    if not present:
        return None
    return sum(c for c, _ in present) / sum(n for _, n in present)


def summarize(per_category: dict[str, tuple[int, ...]]) -> dict:
    """`{category: (correct, n)}` or `(correct, n, not_run)` -> `{"categories": {name: {"accuracy",
    "n", "not_run"}}, "simple", "non_live_ast", "live", "irrelevance", "overall", "multi_turn",
    "not_run"}`; ``correct`` must not count the ``not_run`` entries (they are wrong)."""
    counts = {name: (*t[:2], t[2] if len(t) > 2 else 0) for name, t in per_category.items()}
    categories = {name: {"accuracy": _accuracy(c, n), "n": n, "not_run": skipped}
                  for name, (c, n, skipped) in counts.items()}
    per_category = {name: (c, n) for name, (c, n, _) in counts.items()}

    def accuracy(name: str) -> float | None:
        return categories[name]["accuracy"] if name in categories and categories[name]["n"] > 0 else None

    simple = _unweighted([accuracy(name) for name in SIMPLE])
    non_live_ast = _unweighted([simple, accuracy("multiple"), accuracy("parallel"), accuracy("parallel_multiple")])
    live = _weighted(per_category, LIVE)
    overall = (non_live_ast + live) / 2 if non_live_ast is not None and live is not None else None
    return {
        "categories": categories,
        "simple": simple,
        "non_live_ast": non_live_ast,
        "live": live,
        "irrelevance": _weighted(per_category, IRRELEVANCE),
        "overall": overall,
        "multi_turn": _unweighted([accuracy(name) for name in MULTI_TURN]),
        "not_run": sum(skipped for _, _, skipped in counts.values()),
    }
