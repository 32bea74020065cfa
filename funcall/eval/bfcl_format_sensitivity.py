"""BFCL v4 format sensitivity (``eval=bfcl_format_sensitivity``): one set of entries, 26 system prompts.

BFCL_v4_format_sensitivity.json names 200 single-turn entries; each is asked under the 26
configurations of `CONFIGS` (return format python/json/verbose_xml/concise_xml x a <TOOLCALL> tag
or not x function docs as python/xml/json, plus a markdown prompt and an "experimental" wording),
and the spread of accuracy over the configurations is the score. The system prompt is bfcl-eval's
text (`funcall.data.bfcl_formats`, rewritten from bfcl-eval and tested equal to it for every
configuration; the training data ``data=bfcl_format_sensitivity`` renders its prompts with the same
code); the chat template is the model's own. Answers are decoded as bfcl-eval decodes them, without
``eval`` (`funcall.data.bfcl_format_decode`), and graded by funcall's AST checker
(`funcall.bfcl.checker`); the report is bfcl-eval's: accuracy per configuration,
``accuracy_max_delta`` (max - min) and ``accuracy_std`` (sample standard deviation), both in
percentage points rounded to 2 decimals, ``accuracy_variance``.

Departures from bfcl-eval: those of the decoder (nothing is ``eval``ed, XML declarations are
refused, inputs are capped in length, a closed ``<think>`` block is dropped), and an over-long
prompt is not run and counts as wrong (as in `funcall.eval.bfcl_eval`).
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from funcall.bfcl.checker import Verdict, check
from funcall.bfcl.data import load_category
from funcall.bfcl.leaderboard import format_leaderboard
from funcall.data.bfcl_format_decode import decode_answer
from funcall.data.bfcl_formats import CONFIGS, IDS_FILE, messages_for, parse_config, prompt_text, system_prompt
from funcall.dist import shard
from funcall.eval.bfcl_report import NOT_RUN, jsonable, with_leaderboard
from funcall.eval.task import Report, generate_in_step
from funcall.utils.atomic import write_json_atomic, write_jsonl_atomic
from funcall.utils.errors import ConfigError, DataError

__all__ = ["CONFIGS", "IDS_FILE", "BFCLFormatSensitivityEval", "decode_answer", "messages_for", "summarize",
           "system_prompt"]


# -- the task ------------------------------------------------------------------------------------

class BFCLFormatSensitivityEval:
    """``eval=bfcl_format_sensitivity``: every (entry, configuration) pair generated and graded."""

    name = "bfcl_format_sensitivity"

    def __init__(self, data_dir: str | None = None, limit: int | None = None, categories: list[str] | None = None,
                 configs: list[str] | None = None, batch_size: int = 16, max_new_tokens: int = 512,
                 max_prompt_tokens: int | None = None, system_role: str = "system", table_rows: int = 200):
        self.data_dir, self.limit = data_dir, limit
        self.categories = list(categories) if categories else None
        self.configs = list(configs) if configs else list(CONFIGS)
        self.batch_size, self.max_new_tokens = int(batch_size), int(max_new_tokens)
        self.max_prompt_tokens, self.system_role, self.table_rows = max_prompt_tokens, system_role, table_rows
        self.items: list[tuple[Any, str]] = []  # (funcall.bfcl.data.Entry, configuration)

    def load(self) -> int:
        option = "eval.bfcl_format_sensitivity"
        if self.data_dir in (None, "") or not (Path(self.data_dir) / IDS_FILE).is_file():
            raise ConfigError(f"eval.data_dir={self.data_dir}: no {IDS_FILE} there (pip install bfcl-eval, or pass "
                              "eval.data_dir=DIR)")
        bad = [c for c in self.configs if c not in CONFIGS]
        if bad:
            raise ConfigError(f"{option}.configs: {bad[0]!r} is not one of bfcl-eval's 26 configurations")
        if self.limit is not None and int(self.limit) < 1:
            raise ConfigError(f"eval.limit must be a positive number of entries per category or null, got {self.limit}")
        if self.system_role not in ("system", "user") or self.batch_size < 1 or self.max_new_tokens < 1:
            raise ConfigError(f"{option}: system_role must be system or user; batch_size and max_new_tokens >= 1")
        ids = json.loads((Path(self.data_dir) / IDS_FILE).read_text())
        unknown = [c for c in self.categories or [] if c not in ids]
        if unknown:
            raise ConfigError(f"{option}.categories: {unknown[0]!r} is not in {IDS_FILE} ({', '.join(ids)})")
        entries = []
        for category in self.categories or list(ids):
            wanted = set(ids[category])
            try:
                chosen = [e for e in load_category(self.data_dir, category) if e.id in wanted]
            except (OSError, ValueError, KeyError) as exc:
                raise DataError(f"eval.data_dir={self.data_dir}: cannot read {category} ({exc})") from None
            entries += chosen[:None if self.limit is None else int(self.limit)]
        self.items = [(entry, config) for entry in entries for config in self.configs]
        return len(self.items)

    def encode(self, tokenizer, entry, config: str) -> list[int]:
        text = prompt_text(tokenizer, config, entry.functions, entry.category, entry.question[0], self.system_role)
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def run(self, engine, tokenizer, dist, context_length: int | None = None, progress=None) -> list[dict]:
        indices = shard(len(self.items), dist.rank, dist.world_size)
        prompts = [self.encode(tokenizer, *self.items[i]) for i in indices]
        limit = self.max_prompt_tokens or (context_length - self.max_new_tokens if context_length else None)
        fits = [k for k, p in enumerate(prompts) if limit is None or len(p) <= int(limit)]
        outputs: dict[int, list[int]] = dict(zip(fits, generate_in_step(
            engine, [prompts[k] for k in fits], batch_size=self.batch_size, max_new_tokens=self.max_new_tokens,
            progress=progress)))
        if progress is not None:
            progress.update(len(prompts) - len(fits))
        rows = []
        for k, index in enumerate(indices):
            entry, config = self.items[index]
            row = {"index": index, "id": entry.id, "category": entry.category, "config": config,
                   "prompt_tokens": len(prompts[k])}
            if k in outputs:
                row.update(self.grade(entry, config, tokenizer.decode(outputs[k], skip_special_tokens=True)))
            else:
                row.update(valid=False, error_type=NOT_RUN, error=[f"prompt over the limit of {limit} tokens"],
                           completion="", decoded=None, not_run=True)
            rows.append(row)
        return rows

    @staticmethod
    def grade(entry, config: str, text: str) -> dict[str, Any]:
        ret, tag, *_ = parse_config(config)
        try:
            decoded = decode_answer(text, ret, tag)
            verdict = check(entry.category, entry.functions, entry.ground_truth, decoded)
        except Exception as exc:  # noqa: BLE001 - one odd answer must not end the evaluation
            decoded, verdict = None, Verdict(False, "checker_exception", [f"{type(exc).__name__}: {exc}"])
        return {"valid": bool(verdict.valid), "error_type": verdict.error_type, "error": jsonable(verdict.error),
                "completion": text, "decoded": jsonable(decoded), "not_run": False}

    def report(self, rows: list[dict], run_dir: Path, meta: dict[str, Any]) -> Report:
        rows = sorted(rows, key=lambda r: r["index"])
        summary = summarize(rows, self.configs)
        run_dir = Path(run_dir)
        write_jsonl_atomic(run_dir / "bfcl_format_sensitivity_results.jsonl", [
            {k: v for k, v in r.items() if k != "index"} for r in rows])
        write_json_atomic(run_dir / "bfcl_format_sensitivity_scores.json", {**summary, "run": meta})
        scores = add_to_scores(run_dir / "bfcl_scores.json", summary)
        lines = [f"{i:>2}  {s['accuracy'] * 100:6.2f}%  {s['correct_count']:>4}/{s['total_count']:<4}  {c}"
                 for i, (c, s) in enumerate((c, summary[c]) for c in self.configs if c in summary)]
        lines.append(f"format sensitivity: accuracy {summary['accuracy'] * 100:.2f}%, max delta "
                     f"{summary['accuracy_max_delta']}, std {summary['accuracy_std']} (percentage points), "
                     f"{summary['not_run']} not run")
        table = "\n".join(lines + ["", format_leaderboard(scores["leaderboard"])])
        metrics = {f"{self.name}/{key}": summary[key] for key in
                   ("accuracy", "accuracy_max_delta", "accuracy_std", "accuracy_variance", "not_run")}
        metrics.update({f"{self.name}/config_{i}": summary[c]["accuracy"] for i, c in enumerate(self.configs)
                        if c in summary})
        failures = [[r["id"], r["config"], r["error_type"], r["completion"]] for r in rows if not r["valid"]]
        return Report(metrics=metrics, table=table, failure_columns=["id", "config", "error_type", "completion"],
                      failure_rows=failures[:self.table_rows])


def summarize(rows: list[dict], configs: list[str]) -> dict[str, Any]:
    """bfcl-eval's format-sensitivity score header: accuracy, counts, the spread over configurations
    (max delta, variance, std: percentage points, rounded to 2 decimals) and each configuration's
    ``{accuracy, correct_count, total_count}``; plus ``not_run`` (entries counted as wrong)."""
    stats = {c: {"correct": 0, "total": 0} for c in configs if any(r["config"] == c for r in rows)}
    for row in rows:
        stats[row["config"]]["total"] += 1
        stats[row["config"]]["correct"] += bool(row["valid"])
    by_config = {c: {"accuracy": s["correct"] / s["total"], "correct_count": s["correct"], "total_count": s["total"]}
                 for c, s in stats.items()}
    accuracies = [v["accuracy"] for v in by_config.values()]
    spread = len(accuracies) > 1
    correct = sum(bool(r["valid"]) for r in rows)
    return {"accuracy": correct / len(rows) if rows else 0.0, "correct_count": correct, "total_count": len(rows),
            "accuracy_max_delta": round((max(accuracies) - min(accuracies)) * 100, 2) if spread else 0.0,
            "accuracy_variance": round(statistics.variance(accuracies) * 100**2, 2) if spread else 0.0,
            "accuracy_std": round(statistics.stdev(accuracies) * 100, 2) if spread else 0.0,
            "not_run": sum(bool(r.get("not_run")) for r in rows), **by_config}


def add_to_scores(path: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """bfcl_scores.json with ``format_sensitivity`` set and its leaderboard recomputed (the file is
    created, without categories, when no other BFCL task of this run wrote it)."""
    try:
        scores = json.loads(path.read_text()) if path.exists() else {"categories": {}}
    except (OSError, ValueError):
        scores = {"categories": {}}
    scores["format_sensitivity"] = summary
    scores = with_leaderboard(scores)
    write_json_atomic(path, scores)
    return scores
