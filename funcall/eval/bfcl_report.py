"""BFCL results -> the run dir's files, the printed table, and the numbers sent to W&B.

Files (written atomically: a temporary file, then a rename):
  bfcl_scores.json   `funcall.bfcl.scores.summarize` of the per-category counts
                     (``categories`` with ``accuracy``, ``n``, ``not_run`` and ``unparseable``
                     each; ``simple``, ``non_live_ast``, ``live``, ``irrelevance``, ``overall``;
                     fractions in [0, 1]; ``not_run``: entries never run, over every category in
                     the file) plus ``n``, ``correct``, ``format_ok`` (share of the answers that
                     were generated that are in the asked format), ``unparseable`` and
                     ``no_call_frac`` (shares of the answers, multi-turn: of the steps, that did
                     not parse / parsed to no call, `unparseable_shares`), ``prompt_too_long``
                     (entries with a prompt over the limit; in multi-turn, at any step),
                     ``hit_max_new_tokens`` and ``run`` (model, format, limits, ranks, time);
                     ``leaderboard``: BFCL v4's own summary and overall with every category not
                     run named (`funcall.bfcl.leaderboard`). ``overall`` is the PAPERS' overall
                     (mean of non-live AST and live), printed as "overall (papers)"; the
                     leaderboard's is ``leaderboard.overall``. A category another task wrote keeps
                     its ``reason`` (why it was not run; a row's ``not_run_reason`` sets it), and the
                     file keeps ``format_sensitivity`` (eval=bfcl_format_sensitivity) when rewritten.
  bfcl_results.jsonl one row per entry, in data order: id, category, valid, error_type, error,
                     completion (the raw text), decoded (what the checker received), format_ok,
                     parse_error, parse (calls | no_call | unparseable), not_run,
                     prompt/completion token counts.
An entry that was not run (``not_run`` true, ``error_type`` ``not_run:prompt_too_long``) was never
graded and counts as wrong in every accuracy; the table shows a ``not_run`` column and a warning
goes to the ``funcall`` logger (`warn_not_run`), so such a score cannot be read as measured.
Decoded outputs are whatever the decoders built (tuples, non-string keys, parse failures);
`jsonable` turns them into plain JSON without losing what they say.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from funcall.bfcl.leaderboard import SUB_SCORES, format_leaderboard, leaderboard
from funcall.bfcl.scores import IRRELEVANCE, LIVE, MULTI_TURN, SIMPLE, summarize
from funcall.calls.limits import ParseFailure
from funcall.calls.parse_stats import NO_CALL, UNPARSEABLE, parse_counts, step_outcomes
from funcall.eval.task import Report
from funcall.utils.atomic import write_json_atomic, write_jsonl_atomic

NON_LIVE = SIMPLE + ("multiple", "parallel", "parallel_multiple")
SUMMARY_ROWS = (  # (key in the scores, label, categories it averages)
    ("simple", "simple (python, java, js)", SIMPLE),
    ("non_live_ast", "non_live_ast", NON_LIVE),
    ("live", "live", LIVE),
    ("irrelevance", "irrelevance", IRRELEVANCE),
    ("overall", "overall (papers)", NON_LIVE + LIVE),  # mean(non_live_ast, live): not the leaderboard's
    ("multi_turn", "multi_turn", MULTI_TURN),
)
FAILURE_COLUMNS = ["id", "category", "error_type", "error", "completion", "decoded"]
NOT_RUN = "not_run:prompt_too_long"  # error_type of an entry whose prompt was over the limit
CARRIED = ("format_sensitivity",)  # keys of an earlier bfcl_scores.json that a rewrite keeps


def jsonable(value: Any) -> Any:
    if isinstance(value, ParseFailure):
        return {"parse_failure": value.code, "message": value.message}
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {k if isinstance(k, str) else repr(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return repr(value)


def row_outcomes(row: dict) -> list[str]:
    """The parse outcomes of a row's answers (`funcall.calls.parse_stats`): a single-turn row's
    ``parse``, a multi-turn row's steps (its ``turns``); none for an entry that was not run."""
    if row.get("not_run"):
        return []
    if "turns" in row:
        return step_outcomes(row["turns"])
    return [row["parse"]] if row.get("parse") else []


def unparseable_shares(rows: list[dict], categories: dict[str, dict], earlier: dict[str, Any] | None) -> dict[str, Any]:
    """Set each category's ``unparseable``: the share of its answers that did not parse (single-turn:
    one answer per entry that ran; multi-turn: every step of its conversations), None with no
    answer, the ``earlier`` file's value for a category these rows lack. Returns ``unparseable``
    and ``no_call_frac`` over all of ``rows``' answers (None with no answer)."""
    per: dict[str, list[str]] = {}
    for row in rows:
        per.setdefault(row["category"], []).extend(row_outcomes(row))
    before = (earlier or {}).get("categories") or {}
    for name, value in categories.items():
        counts = parse_counts(per.get(name, []))
        value["unparseable"] = (counts[UNPARSEABLE] / counts["n"] if counts["n"]
                                else None if name in per else before.get(name, {}).get("unparseable"))
    counts = parse_counts(o for outcomes in per.values() for o in outcomes)
    if not counts["n"]:
        return {"unparseable": None, "no_call_frac": None}
    return {"unparseable": counts[UNPARSEABLE] / counts["n"], "no_call_frac": counts[NO_CALL] / counts["n"]}


def score_rows(rows: list[dict], categories: list[str], earlier: dict[str, Any] | None = None) -> dict[str, Any]:
    """The scores file's content (without ``run``) from graded rows; ``earlier`` (the file as
    another BFCL task of this run wrote it) contributes its categories that these rows lack."""
    counts = {c: [0, 0, 0] for c in categories}
    for name, value in ((earlier or {}).get("categories") or {}).items():
        if name not in counts:
            counts[name] = [round(value["accuracy"] * value["n"]), value["n"], value.get("not_run", 0)]
    reasons = {name: value["reason"] for name, value in ((earlier or {}).get("categories") or {}).items()
               if name not in categories and value.get("reason")}
    for row in rows:
        tally = counts.setdefault(row["category"], [0, 0, 0])
        tally[0] += bool(row["valid"]) and not row.get("not_run")
        tally[1] += 1
        tally[2] += bool(row.get("not_run"))
        if row.get("not_run_reason"):
            reasons[row["category"]] = str(row["not_run_reason"])
    scores = summarize({c: tuple(t) for c, t in counts.items()})
    for name, reason in reasons.items():
        scores["categories"][name]["reason"] = reason
    n = len(rows)
    # single-turn rows have format_ok; an entry that was not run has no answer to be in a format
    formats = [bool(r["format_ok"]) for r in rows if "format_ok" in r and not r.get("not_run")]
    scores.update(
        n=n, correct=sum(bool(r["valid"]) for r in rows),
        format_ok=sum(formats) / len(formats) if formats else None,
        prompt_too_long=sum(bool(r.get("prompt_too_long")) for r in rows),
        hit_max_new_tokens=sum(bool(r.get("hit_max_new_tokens")) for r in rows),
        **unparseable_shares(rows, scores["categories"], earlier))
    scores.update({key: earlier[key] for key in CARRIED if key in (earlier or {})})
    return with_leaderboard(scores)


def with_leaderboard(scores: dict[str, Any]) -> dict[str, Any]:
    """``scores`` with its ``leaderboard`` block (re)computed from its categories."""
    scores["leaderboard"] = leaderboard(scores.get("categories") or {}, scores.get("format_sensitivity"))
    return scores


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def format_table(scores: dict[str, Any]) -> str:
    """Category, n, not_run, accuracy (%), unparseable (% of its answers), then the summary rows
    (n and not_run = the entries they are computed from, and how many of those were never run and
    count as wrong; the share unparseable over all answers is a note, `notes`)."""
    categories = scores["categories"]
    width = max([len(label) for _, label, _ in SUMMARY_ROWS] + [len(c) for c in categories])

    def line(label: str, n: int, not_run: int, accuracy: float | None, unparseable: str) -> str:
        return f"{label:<{width}}  {n:>6}  {not_run:>7}  {_percent(accuracy):>10}  {unparseable:>13}".rstrip()

    lines = [f"{'category':<{width}}  {'n':>6}  {'not_run':>7}  {'accuracy %':>10}  {'unparseable %':>13}"]
    lines += [line(c, v["n"], v.get("not_run", 0), v["accuracy"], _percent(v.get("unparseable")))
              for c, v in categories.items()]
    lines.append("-" * len(lines[0]))
    multi = any(c in categories for c in MULTI_TURN)
    single = any(c not in MULTI_TURN for c in categories)
    for key, label, members in SUMMARY_ROWS:
        if (key == "multi_turn" and not multi) or (key != "multi_turn" and not single):
            continue
        present = [categories[c] for c in members if c in categories]
        lines.append(line(label, sum(v["n"] for v in present), sum(v.get("not_run", 0) for v in present),
                          scores.get(key), ""))
    return "\n".join(lines)


def warn_not_run(scores: dict[str, Any]) -> str | None:
    """The console warning (``funcall`` logger) when any entry in the scores was not run; the line."""
    if not scores.get("not_run"):
        return None
    total = sum(v["n"] for v in scores["categories"].values())
    text = (f"{scores['not_run']} of {total} BFCL entries were not run: their (first) prompt is longer than the "
            "prompt limit (the task's max_prompt_tokens, or the model's context minus its max_new_tokens); they "
            "count as wrong (not_run in bfcl_scores.json and in the table)")
    logging.getLogger("funcall").warning(text)
    return text


def notes(scores: dict[str, Any]) -> list[str]:
    """Notes printed under the table: the shares of answers that did not parse or parsed to no call,
    answers that were cut (unrun entries: `warn_not_run`)."""
    out = []
    if scores.get("unparseable") is not None:
        out.append(f"unparseable: {_percent(scores['unparseable'])}% of the answers did not parse in the answer format, "
                   f"{_percent(scores['no_call_frac'])}% parsed to no call (unparseable, no_call_frac in bfcl_scores.json)")
    if scores["hit_max_new_tokens"]:
        out.append(f"note: {scores['hit_max_new_tokens']} of {scores['n']} answers used the whole eval.max_new_tokens "
                   "budget and may be cut (hit_max_new_tokens in bfcl_results.jsonl)")
    return out


def flat_metrics(scores: dict[str, Any], prefix: str = "bfcl") -> dict[str, Any]:
    """``bfcl/overall`` (the papers'), ``bfcl/live``, ..., ``bfcl/leaderboard/overall`` (and its
    sub-scores, ``offline_overall``, ...), ``bfcl/not_run``, ``bfcl/unparseable``,
    ``bfcl/no_call_frac``, ``bfcl/<category>``, ``bfcl/<category>/n``, ``bfcl/<category>/not_run``
    and ``bfcl/<category>/unparseable``."""
    out = {f"{prefix}/{key}": scores.get(key) for key, _, _ in SUMMARY_ROWS}
    out.update({f"{prefix}/{key}": scores[key] for key in ("n", "not_run", "format_ok", "unparseable", "no_call_frac",
                                                            "prompt_too_long", "hit_max_new_tokens")})
    board = scores.get("leaderboard") or {}
    out.update({f"{prefix}/leaderboard/{key}": board.get(key) for key in board
                if key in (*SUB_SCORES, "overall", "offline_overall", "overall_with_missing_as_zero", "covered_weight")})
    for name, value in scores["categories"].items():
        out[f"{prefix}/{name}"] = value["accuracy"]
        out[f"{prefix}/{name}/n"] = value["n"]
        out[f"{prefix}/{name}/not_run"] = value.get("not_run", 0)
        out[f"{prefix}/{name}/unparseable"] = value.get("unparseable")
    return out


def write_scores(run_dir: Path, rows: list[dict], categories: list[str], meta: dict[str, Any]) -> dict[str, Any]:
    """``bfcl_scores.json`` for these rows, keeping the categories another BFCL task (single- or
    multi-turn) already wrote into this run directory; ``n``/``correct``/``run`` are these rows'."""
    path = Path(run_dir) / "bfcl_scores.json"
    try:
        earlier = json.loads(path.read_text()) if path.exists() else None
    except (OSError, ValueError):
        earlier = None
    scores = score_rows(rows, categories, earlier)
    scores["run"] = meta
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, scores)
    return scores


def write_report(rows: list[dict], categories: list[str], run_dir: Path, meta: dict[str, Any],
                 table_rows: int = 200) -> Report:
    rows = sorted(rows, key=lambda r: r.get("index", 0))
    scores = write_scores(run_dir, rows, categories, meta)
    write_jsonl_atomic(run_dir / "bfcl_results.jsonl", [{k: v for k, v in r.items() if k != "index"} for r in rows])
    failures = [[r["id"], r["category"], r["error_type"], json.dumps(r["error"], ensure_ascii=False),
                 r["completion"], json.dumps(r["decoded"], ensure_ascii=False)]
                for r in rows if not r["valid"]][:table_rows]
    table = "\n".join([format_table(scores), *notes(scores), "", format_leaderboard(scores["leaderboard"])])
    warn_not_run(scores)
    return Report(metrics=flat_metrics(scores), table=table, failure_columns=FAILURE_COLUMNS,
                  failure_rows=failures)
