"""Weights & Biases, online when there is an API key and offline otherwise.

``mode: null`` picks ``online`` if ``WANDB_API_KEY`` is set (or ``WANDB_MODE`` says so) and
``offline`` otherwise; offline runs land in ``<run_dir>/wandb/offline-run-*`` and upload later
with ``wandb sync <run_dir>/wandb/offline-run-*``. The run's config is the resolved Hydra config
plus ``choices``, the option picked in every config group (``choices.loss = srml``,
``choices.advantage = entropy_grpo``...), so W&B can group and filter runs by them. A resumed
run continues the same W&B run id (stored in ``<run_dir>/wandb_run_id``).
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any


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

    def start(self, run_dir: Path, config: dict[str, Any]) -> None:
        import wandb

        id_file = Path(run_dir) / "wandb_run_id"
        run_id = id_file.read_text().strip() if id_file.exists() else uuid.uuid4().hex[:8]
        id_file.write_text(run_id + "\n")
        self.run = wandb.init(
            project=self.project, entity=self.entity, group=self.group, tags=self.tags,
            name=self.name or Path(run_dir).name, notes=self.notes, dir=str(run_dir), config=config,
            mode=self.resolved_mode(), id=run_id, resume="allow",
            settings=wandb.Settings(console="off", x_disable_stats=True, silent=True))

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
