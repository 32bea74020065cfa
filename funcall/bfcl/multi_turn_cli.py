"""`python -m funcall.bfcl check-multi-turn --input IN.jsonl --output OUT.jsonl`: multi-turn verdicts.

Each input line is a JSON object with `id` (a BFCL multi-turn entry id, e.g. `multi_turn_base_0`)
and `model_output`, BFCL's decoded nesting: turns -> steps -> call strings, e.g.
`[[["cd(folder='document')", "ls()"], []], ...]`. The entry and its ground truth are looked up by
id in `--data-dir` (default: the installed bfcl-eval package's data) unless the row carries them
(`entry`, `ground_truth`). Each output line holds the input's `id`, `valid` and `error_type`
(BFCL's `multi_turn:*` vocabulary; null when valid) and `error_message`, in input order. A row
that cannot be checked (bad JSON, unknown id, missing field) gets `valid: false` with an
`input_error:*` type. Calls are executed by funcall.envs in a child process, never `eval`ed;
a call that runs longer than `--timeout` seconds is stopped and its result is the error
`timed out` (the check goes on). The output file is written atomically. Exit codes: 0 done, 2 input unreadable, data
missing or output not writable.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from funcall.bfcl.multi_turn import check_multi_turn, verdict
from funcall.envs.bfcl_data import MULTI_TURN_CATEGORIES, installed_bfcl_data, load_multi_turn, prepare_entry
from funcall.envs.worker import EnvPool
from funcall.utils.atomic import write_jsonl_atomic

MAX_LINE_CHARS = 16 * 1024 * 1024  # a row longer than this is refused unread


class Lookup:
    """Entries and ground truths by id, each category file read the first time one of its ids is asked for."""

    def __init__(self, data_dir: str | None):
        self.data_dir = data_dir
        self.loaded: dict[str, tuple[dict, list]] = {}
        self.categories_read: set[str] = set()

    def get(self, entry_id: str) -> tuple[dict, list] | None:
        category = entry_id.rsplit("_", 1)[0]
        if entry_id not in self.loaded and category in MULTI_TURN_CATEGORIES and category not in self.categories_read:
            self.categories_read.add(category)
            if self.data_dir is not None:
                self.loaded.update({e["id"]: (e, gt) for e, gt in load_multi_turn(self.data_dir, category)})
        return self.loaded.get(entry_id)


def check_row(line: str, lookup: Lookup, pool: EnvPool) -> dict:
    if len(line) > MAX_LINE_CHARS:
        return {"id": None, **verdict(False, "input_error:too_long", f"row of {len(line)} characters")}
    try:
        row: Any = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return {"id": None, **verdict(False, "input_error:bad_json", str(exc)[:200])}
    if not isinstance(row, dict):
        return {"id": None, **verdict(False, "input_error:bad_row", "a row must be a JSON object")}
    entry_id = row.get("id")
    if "model_output" not in row:
        return {"id": entry_id, **verdict(False, "input_error:missing_field", "model_output is required")}
    entry, truth = row.get("entry"), row.get("ground_truth")
    if entry is None or truth is None:
        found = lookup.get(entry_id) if isinstance(entry_id, str) else None
        if found is None:
            return {"id": entry_id, **verdict(False, "input_error:unknown_id",
                                              f"no multi-turn entry {entry_id!r} in {lookup.data_dir}")}
        entry, truth = entry or found[0], truth or found[1]
    elif lookup.data_dir is not None and "function" not in entry:
        entry = prepare_entry(entry, lookup.data_dir)
    if not (isinstance(entry, dict) and isinstance(truth, list) and isinstance(entry.get("involved_classes"), list)):
        return {"id": entry_id, **verdict(False, "input_error:bad_entry", "entry needs involved_classes; ground_truth a list")}
    try:
        result = check_multi_turn(entry, truth, row["model_output"], pool.open)
    except Exception as exc:  # noqa: BLE001 - one odd row must not end the run
        result = verdict(False, "checker_error", f"{type(exc).__name__}: {exc}"[:300])
    return {"id": entry_id, "valid": result["valid"], "error_type": result["error_type"],
            "error_message": result["error_message"]}


def check_multi_turn_file(input_path: Path, output_path: Path, data_dir: str | None = None,
                          timeout_s: float = 10.0) -> tuple[int, int]:
    """Verdict rows for every non-blank input line, in order; returns (rows, valid rows)."""
    lookup = Lookup(data_dir or installed_bfcl_data())
    out = []
    with EnvPool(timeout_s=timeout_s) as pool, open(input_path, encoding="utf-8", errors="replace") as source:
        for line in source:
            if line.strip():
                out.append(check_row(line, lookup, pool))
    output_path.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(output_path, out)
    return len(out), sum(r["valid"] for r in out)
