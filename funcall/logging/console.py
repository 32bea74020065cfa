"""What a run says: funcall's messages go through the ``funcall`` logger, to the console and to
the run's log file (``train.log``, ``evaluate.log``) alike.

Hydra configures Python logging for every job (``conf/hydra/job_logging/funcall.yaml``): plain
messages on the console (information on stdout, warnings and errors on stderr) and the same
messages with a time stamp in the run folder's log file, which only rank 0 writes. The obvious
``print`` reaches the console and never the file, which is why the log files were empty; the
obvious logging set-up prints every message once per rank under ``torchrun``, hence
`MainRankOnly`. Progress bars (tqdm, on stderr) stay out of the file.

Outside a Hydra job (a test calling ``run(cfg)`` in-process) nothing is configured: warnings and
errors still reach stderr through Python's last-resort handler, information is dropped.
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger("funcall")


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


class MainRankOnly(logging.Filter):
    """Under several ranks: rank 0's records, and the warnings and errors of the others (marked
    with their rank); an error raised alike on every rank is told once (`funcall.utils.errors`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if rank() == 0:
            return True
        if record.levelno < logging.WARNING or getattr(record, "every_rank", False):
            return False
        if not getattr(record, "rank_marked", False):
            record.msg, record.rank_marked = f"[rank {rank()}] {record.msg}", True
        return True


class BelowWarning(logging.Filter):
    """Information (and debug) only: the console's stdout handler; stderr takes the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


def duration(seconds: float) -> str:
    """``1h02m``, ``5m12s``, ``48s``: a run's length as people read it."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
