"""Weights & Biases, online when there is an API key and offline otherwise.

``mode: null`` picks ``online`` if ``WANDB_API_KEY`` is set (or ``WANDB_MODE`` says so) and
``offline`` otherwise; offline runs land in ``<run_dir>/wandb/offline-run-*`` and upload later
with ``wandb sync``. The run's config is the resolved Hydra config plus ``choices``, the option
picked in every config group (``choices.loss = srml``, ``choices.advantage = entropy_grpo``...),
so W&B can group and filter runs by them.

The W&B run id lives in ``<run_dir>/wandb_run_id``. A fresh run always draws a new id (and
overwrites the file, atomically), even in a folder that held an earlier run: the obvious "reuse
the id if the file exists" would append a new run's history to the old one's. A resumed run
reuses the stored id (``resume="allow"``), and `funcall.logging.run_log.RunLog` then sends again
the steps of ``metrics.jsonl`` from `next_step` on: the steps a killed run never got to W&B.
Offline, W&B knows nothing of the earlier folder, so `next_step` is 0 and the resumed run's
folder (the newest ``offline-run-*``) holds the whole history by itself: after a resume, sync
that folder alone (``wandb sync <run_dir>/wandb/offline-run-<newest>``); syncing the older ones
too would add the killed run's steps again, including those after the step it resumed from.
Online, W&B continues after the last step the server holds; steps up to that one are not sent
again (W&B drops a step lower than the last), which loses nothing when they had reached it.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from funcall.utils.atomic import write_atomic


class WandbLogger:
    def __init__(self, project: str = "funcall", entity: str | None = None, group: str | None = None,
                 tags: list[str] | None = None, name: str | None = None, mode: str | None = None,
                 notes: str | None = None):
        self.project, self.entity, self.group = project, entity, group
        self.tags = list(tags or [])
        self.name, self.notes = name, notes
        self.mode = mode
        self.run = None

    def resolved_mode(self) -> str:
        if self.mode:
            return self.mode
        if os.environ.get("WANDB_MODE"):
            return os.environ["WANDB_MODE"]
        return "online" if os.environ.get("WANDB_API_KEY") else "offline"

    def start(self, run_dir: Path, config: dict[str, Any], resume: bool = False) -> None:
        """Start (``resume``: continue) the W&B run of ``run_dir`` (module docstring)."""
        import wandb

        self.run = wandb.init(
            project=self.project, entity=self.entity, group=self.group, tags=self.tags,
            name=self.name or Path(run_dir).name, notes=self.notes, dir=str(run_dir), config=config,
            mode=self.resolved_mode(), id=run_id(Path(run_dir), resume), resume="allow" if resume else None,
            settings=wandb.Settings(console="off", x_disable_stats=True, silent=True))

    def next_step(self) -> int:
        """The step W&B expects next: 0 for a new run and for any offline one, one after the last
        step the server holds for a resumed online run (``run.step``)."""
        return int(self.run.step) if self.run is not None else 0

    def log(self, row: dict[str, Any], step: int) -> None:
        if self.run is not None:
            self.run.log({k: v for k, v in row.items() if k != "step" and v is not None}, step=step)

    def table(self, key: str, columns: list[str], rows: list[list[Any]], step: int) -> None:
        if self.run is not None:
            import wandb

            self.run.log({key: wandb.Table(columns=columns, data=rows)}, step=step)

    def summary(self, data: dict[str, Any]) -> None:
        if self.run is not None:
            for k, v in data.items():
                self.run.summary[k] = v

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None


def run_id(run_dir: Path, resume: bool) -> str:
    """The stored id when resuming (if there is one), else a new one, stored."""
    id_file = run_dir / "wandb_run_id"
    if resume and id_file.exists() and id_file.read_text().strip():
        return id_file.read_text().strip()
    new = uuid.uuid4().hex[:8]
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(id_file, lambda f: f.write(new + "\n"))
    return new
