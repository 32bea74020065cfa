"""What a training loop is handed about its run: the folder, its rank, the log, the logged config."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from funcall.dist import DistInfo
from funcall.logging.run_log import RunLog


@dataclass
class RunContext:
    """The run directory, this process's place in the job, the log and the logged config."""

    run_dir: Path
    dist: DistInfo
    log: RunLog
    config: dict[str, Any]
    progress: Any = None
    where: Path | None = None  # the folder the closing line names, when the run is moved there after it ends

    def bar(self, total: int, initial: int) -> None:
        if self.dist.is_main and self.progress is None:
            from tqdm.auto import tqdm

            self.progress = tqdm(total=total, initial=initial, desc="train", dynamic_ncols=True)
