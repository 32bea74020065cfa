"""The run log: ``metrics.jsonl`` (one JSON object per logged step), ``summary.json``, tables
(sample completions) in ``tables/*.jsonl``, and W&B.

Only rank 0 writes; on other ranks every method is a no-op, so trainers call them
unconditionally. ``metrics.jsonl`` is our own record because W&B has no reader for offline runs:
`funcall.compare` and any script can read it without a server. When a run resumes from step
``s``, lines logged after ``s`` by the killed run are dropped first, so the file reads as if the
run had never stopped. ``summary.json`` is written atomically (temp file, then rename).
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


class RunLog:
    def __init__(self, run_dir: str | Path, is_main: bool, wandb=None):
        self.run_dir = Path(run_dir)
        self.is_main = is_main
        self.wandb = wandb if is_main else None
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.last: dict[str, Any] = {}

    def start(self, config: dict, resume_step: int | None = None) -> None:
        if not self.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.metrics_path.exists():
            self._truncate_after(resume_step)
        elif resume_step is None and self.metrics_path.exists():
            self.metrics_path.unlink()  # a fresh run in an old directory starts a fresh log
        if self.wandb is not None:
            self.wandb.start(self.run_dir, config)

    def _truncate_after(self, step: int) -> None:
        kept = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except json.JSONDecodeError:
                break  # a line cut by the kill: everything after it is gone too
        write_atomic(self.metrics_path, lambda f: f.writelines(line + "\n" for line in kept))

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
        path = self.run_dir / "tables" / (key.replace("/", "_") + ".jsonl")
        path.parent.mkdir(exist_ok=True)
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
