"""BFCL v4's leaderboard summary (its "Overall Acc"), from the categories in bfcl_scores.json.

The formulas and their order of operations are bfcl-eval's own (`generate_leaderboard_csv` in
``bfcl_eval/eval_checker/eval_runner_helper.py``), so the numbers are equal to the last bit:

    non_live    = unweighted mean of [simple, multiple, parallel, parallel_multiple],
                  simple = unweighted mean of simple_python, simple_java, simple_javascript
    live        = entry-weighted mean of live_simple, live_multiple, live_parallel, live_parallel_multiple
    irrelevance = unweighted mean of irrelevance and live_irrelevance (NOT entry-weighted; the
                  papers' ``irrelevance`` in `funcall.bfcl.scores` is)
    multi_turn  = unweighted mean of multi_turn_base, _miss_func, _miss_param, _long_context
    agentic     = unweighted mean of [web_search, memory], web_search = unweighted mean of
                  web_search_base, web_search_no_snippet; memory = unweighted mean of memory_kv,
                  memory_vector, memory_rec_sum
    overall     = 10% non_live + 10% live + 10% irrelevance + 30% multi_turn + 40% agentic

live_relevance (16 entries) appears on the leaderboard but in no sub-score of the overall.

Where it departs from bfcl-eval: bfcl-eval scores a category that was not run as accuracy 0 (with
its full entry count as its weight in ``live``) and still prints a number. Here that number is
``overall_with_missing_as_zero``; ``overall`` is only set when every category ran (else None), so
a partial score cannot pass for the leaderboard's. ``offline_overall`` is the overall over the
categories that ran, each keeping its weight relative to the others: ``overall_with_missing_as_zero
/ covered_weight``, where ``covered_weight`` is the same formula applied to 1 for every category
that ran and 0 for the others (the share of the overall's weight that ran). The ``offline``
sub-scores are reweighted the same way. A category counts as not run when it is absent, has no
entries, or carries a ``reason`` and every entry is ``not_run`` (what a task writes for a part it
cannot run, e.g. memory_vector without its embedding model); entries skipped for an over-long
prompt are run and wrong, as everywhere in funcall.
"""
from __future__ import annotations

from typing import Any

SIMPLE = ("simple_python", "simple_java", "simple_javascript")
NON_LIVE_REST = ("multiple", "parallel", "parallel_multiple")
LIVE = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")
IRRELEVANCE = ("irrelevance", "live_irrelevance")
MULTI_TURN = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
WEB_SEARCH = ("web_search_base", "web_search_no_snippet")
MEMORY = ("memory_kv", "memory_vector", "memory_rec_sum")
SCORING = SIMPLE + NON_LIVE_REST + LIVE + IRRELEVANCE + MULTI_TURN + WEB_SEARCH + MEMORY
SUB_SCORES = ("non_live", "live", "irrelevance", "multi_turn", "agentic")
WEIGHTS = (10, 10, 10, 30, 40)  # of SUB_SCORES, bfcl-eval's calculate_percentage_weighted_accuracy

# Entries per category in bfcl-eval 2026.3.23 (load_dataset_entry without prerequisites): the weight
# bfcl-eval gives a category that was not run, and the size named in ``not_run``.
ENTRY_COUNTS = {
    "simple_python": 400, "simple_java": 100, "simple_javascript": 50, "multiple": 200, "parallel": 200,
    "parallel_multiple": 200, "irrelevance": 240, "live_simple": 258, "live_multiple": 1053, "live_parallel": 16,
    "live_parallel_multiple": 24, "live_irrelevance": 884, "multi_turn_base": 200, "multi_turn_miss_func": 200,
    "multi_turn_miss_param": 200, "multi_turn_long_context": 200, "memory_kv": 155, "memory_vector": 155,
    "memory_rec_sum": 155, "web_search_base": 100, "web_search_no_snippet": 100,
}
DEFAULT_REASONS = {  # why a category absent from the scores was not run
    **{c: "not in eval.categories (eval=bfcl)" for c in SIMPLE + NON_LIVE_REST + LIVE + IRRELEVANCE},
    **{c: "multi-turn not evaluated (add eval=bfcl_multi_turn)" for c in MULTI_TURN},
    **{c: "memory not evaluated (add eval=bfcl_memory)" for c in MEMORY},
    "memory_vector": "no embedding model (eval.memory.embedding_model), or eval=bfcl_memory not run",
    **{c: "web search needs a search API key and live web pages; funcall does not run it offline" for c in WEB_SEARCH},
}

Score = tuple  # (accuracy, total_count), bfcl-eval's {"accuracy", "total_count"}


def ran(entry: dict | None) -> bool:
    """Whether a category of bfcl_scores.json was run (see the module docstring)."""
    if not entry or not entry.get("n"):
        return False
    return not (entry.get("reason") and entry.get("not_run", 0) >= entry["n"])


def _unweighted(parts: list[Score]) -> Score:
    total_count, total_accuracy = 0, 0
    for accuracy, count in parts:
        total_count += count
        total_accuracy += accuracy
    return total_accuracy / len(parts), total_count


def _weighted(parts: list[Score]) -> Score:
    total_count, total_accuracy = 0, 0
    for accuracy, count in parts:
        total_count += count
        total_accuracy += accuracy * count
    return total_accuracy / total_count, total_count


def _percentage(parts: list[Score], weights: tuple[int, ...]) -> Score:
    weight_sum = sum(weights)
    total_count, total_accuracy = 0, 0.0
    for (accuracy, count), weight in zip(parts, [w / weight_sum for w in weights]):
        total_count += count
        total_accuracy += accuracy * weight
    return total_accuracy, total_count


def compose(leaf: dict[str, Score]) -> dict[str, float]:
    """bfcl-eval's composition of the per-category ``(accuracy, total_count)`` into the sub-scores
    and the overall; ``leaf`` holds every category of `SCORING`."""
    simple = _unweighted([leaf[c] for c in SIMPLE])
    non_live = _unweighted([simple] + [leaf[c] for c in NON_LIVE_REST])
    live = _weighted([leaf[c] for c in LIVE])
    irrelevance = _unweighted([leaf[c] for c in IRRELEVANCE])
    multi_turn = _unweighted([leaf[c] for c in MULTI_TURN])
    web_search = _unweighted([leaf[c] for c in WEB_SEARCH])
    memory = _unweighted([leaf[c] for c in MEMORY])
    agentic = _unweighted([web_search, memory])
    overall = _percentage([non_live, live, irrelevance, multi_turn, agentic], WEIGHTS)
    parts = {"non_live": non_live, "live": live, "irrelevance": irrelevance, "multi_turn": multi_turn,
             "agentic": agentic, "web_search": web_search, "memory": memory, "overall": overall}
    return {name: score[0] for name, score in parts.items()}


def _not_run_entry(name: str, entry: dict | None) -> dict[str, Any]:
    return {"category": name, "entries": ENTRY_COUNTS[name],
            "reason": (entry or {}).get("reason") or DEFAULT_REASONS[name]}


def leaderboard(categories: dict[str, dict], format_sensitivity: dict | None = None) -> dict[str, Any]:
    """The ``leaderboard`` block of bfcl_scores.json from its ``categories`` (``accuracy``, ``n``,
    ``not_run``, optional ``reason``); see the module docstring for every key."""
    done = {name for name in SCORING if ran(categories.get(name))}
    leaf = {name: (categories[name]["accuracy"], categories[name]["n"]) if name in done else (0, ENTRY_COUNTS[name])
            for name in SCORING}
    scores = compose(leaf)
    covered = compose({name: (1.0 if name in done else 0, count) for name, (_, count) in leaf.items()})
    complete = len(done) == len(SCORING)
    offline = {name: (scores[name] if complete else scores[name] / covered[name]) if covered[name] > 0 else None
               for name in scores}
    out: dict[str, Any] = {name: scores[name] for name in (*SUB_SCORES, "web_search", "memory")}
    out.update(
        overall=scores["overall"] if complete else None,
        offline_overall=offline.pop("overall"),
        overall_with_missing_as_zero=scores["overall"],
        covered_weight=1.0 if complete else covered["overall"],
        offline=offline,
        weights=dict(zip(SUB_SCORES, WEIGHTS)),
        not_run=[_not_run_entry(name, categories.get(name)) for name in SCORING if name not in done],
    )
    if format_sensitivity:
        out["format_sensitivity"] = {"max_delta": format_sensitivity.get("accuracy_max_delta"),
                                     "std": format_sensitivity.get("accuracy_std")}
    return out


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def format_leaderboard(board: dict[str, Any]) -> str:
    """The printed block: each sub-score as the leaderboard computes it (missing = 0) and over what
    ran, the three overalls, and one line per category that was not run."""
    rows = [("sub-score", "weight %", "leaderboard %", "offline %")]
    rows += [(name, str(board["weights"][name]), _percent(board[name]), _percent(board["offline"][name]))
             for name in SUB_SCORES]
    width = max(len(r[0]) for r in rows) + 2
    lines = ["BFCL v4 leaderboard summary (bfcl-eval's formula; leaderboard: categories not run count as 0)"]
    lines += [f"{a:<{width}}{b:>8}  {c:>13}  {d:>9}" for a, b, c, d in rows]
    lines.append(f"overall (leaderboard)                {_percent(board['overall'])}"
                 + ("" if board["overall"] is not None else "  (not every category ran)"))
    lines.append(f"offline_overall                      {_percent(board['offline_overall'])}"
                 f"  (over the {_percent(board['covered_weight'])}% of the weight that ran)")
    lines.append(f"overall_with_missing_as_zero         {_percent(board['overall_with_missing_as_zero'])}")
    if board.get("format_sensitivity"):
        fs = board["format_sensitivity"]
        lines.append(f"format sensitivity (not in overall): max delta {fs['max_delta']}, std {fs['std']}")
    lines += [f"not run: {m['category']} ({m['entries']} entries): {m['reason']}" for m in board["not_run"]]
    return "\n".join(lines)
