"""The run log: ``metrics.jsonl`` (one JSON object per logged step), ``summary.json``, tables
(sample completions) in ``tables/*.jsonl``, and W&B.

Only rank 0 writes; on other ranks every method is a no-op, so trainers call them
unconditionally. ``metrics.jsonl`` is our own record because W&B has no reader for offline runs:
`funcall.compare` and any script can read it without a server. When a run resumes from step
``s``, lines logged after ``s`` by the killed run are dropped first (from ``metrics.jsonl`` and
every table file), so the files read as if the run had never stopped; a fresh run in an old
folder starts them empty. ``summary.json`` is written atomically (temp file, then rename).

W&B after a resume: the obvious "continue logging" leaves W&B without what the killed run never
flushed (offline, the resumed run even writes a new ``offline-run-*`` folder that starts empty).
So after the files are cut back, every row of ``metrics.jsonl`` and every table row from the step
W&B expects next (`WandbLogger.next_step`: 0 offline) is sent again, in step order, before
training goes on: offline, the newest ``offline-run-*`` folder then holds the whole history
alone and is the one to ``wandb sync`` (`funcall.logging.wandb_logger`). Table files are named
after their key with ``/`` turned into ``_``; ``tables/keys.json`` maps names back to keys.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from funcall.utils.atomic import write_atomic, write_json_atomic


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def read_rows(path: Path) -> list[tuple[str, dict]]:
    """``(line, row)`` of a JSON-lines file, up to the first line that does not parse (cut by a
    kill: everything after it is gone too)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append((line, json.loads(line)))
        except json.JSONDecodeError:
            break
    return rows


class RunLog:
    def __init__(self, run_dir: str | Path, is_main: bool, wandb=None):
        self.run_dir = Path(run_dir)
        self.is_main = is_main
        self.wandb = wandb if is_main else None
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.tables_dir = self.run_dir / "tables"
        self.last: dict[str, Any] = {}

    def start(self, config: dict, resume_step: int | None = None) -> None:
        """``resume_step``: the step of the checkpoint this run resumed from; None for a fresh run."""
        if not self.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for path in [self.metrics_path, *self.tables_dir.glob("*.jsonl")]:
            if resume_step is not None:
                self._truncate_after(path, resume_step)
            else:
                path.unlink(missing_ok=True)  # a fresh run in an old directory starts a fresh log
        if self.wandb is not None:
            self.wandb.start(self.run_dir, config, resume=resume_step is not None)
            if resume_step is not None:
                self._resend(self.wandb.next_step())

    @staticmethod
    def _truncate_after(path: Path, step: int) -> None:
        if path.exists():
            kept = [line for line, row in read_rows(path) if row.get("step", 0) <= step]
            write_atomic(path, lambda f: f.writelines(line + "\n" for line in kept))

    def _resend(self, first_step: int) -> None:
        """Send W&B again the metrics and tables logged from ``first_step`` on (module docstring)."""
        events: list[tuple[int, str | None, list[dict]]] = []  # (step, table key or None for metrics, rows)
        if self.metrics_path.exists():
            events += [(row["step"], None, [row]) for _, row in read_rows(self.metrics_path)
                       if row["step"] >= first_step]
        keys = self._table_keys()
        for path in sorted(self.tables_dir.glob("*.jsonl")):
            by_step: dict[int, list[dict]] = {}
            for _, row in read_rows(path):
                if row["step"] >= first_step:
                    by_step.setdefault(row.pop("step"), []).append(row)
            events += [(step, keys.get(path.stem, path.stem.replace("_", "/", 1)), rows)
                       for step, rows in by_step.items()]
        for step, key, rows in sorted(events, key=lambda e: e[0]):  # stable: at one step, metrics first
            if key is None:
                self.wandb.log(rows[0], step)
            else:
                self.wandb.table(key, list(rows[0]), [list(r.values()) for r in rows], step)

    def _table_keys(self) -> dict[str, str]:
        path = self.tables_dir / "keys.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def log(self, metrics: dict[str, Any], step: int) -> None:
        if not self.is_main:
            return
        row = {"step": step, **{k: _clean(v) for k, v in metrics.items()}}
        self.last.update(row)
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.wandb is not None:
            self.wandb.log(row, step)

    def table(self, key: str, columns: list[str], rows: list[list[Any]], step: int) -> None:
        """A table (sample completions, failures) to W&B and to ``tables/<key>.jsonl``."""
        if not self.is_main:
            return
        name = key.replace("/", "_")
        path = self.tables_dir / (name + ".jsonl")
        self.tables_dir.mkdir(exist_ok=True)
        keys = self._table_keys()
        if keys.get(name) != key:
            write_json_atomic(self.tables_dir / "keys.json", {**keys, name: key})
        with open(path, "a") as f:
            for row in rows:
                f.write(json.dumps({"step": step, **dict(zip(columns, (_clean(v) for v in row)))}) + "\n")
        if self.wandb is not None:
            self.wandb.table(key, columns, rows, step)

    def summary(self, data: dict[str, Any]) -> None:
        if not self.is_main:
            return
        data = {k: _clean(v) for k, v in data.items()}
        write_json_atomic(self.run_dir / "summary.json", data)
        if self.wandb is not None:
            self.wandb.summary(data)

    def close(self) -> None:
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None
