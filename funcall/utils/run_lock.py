"""One run per run folder: rank 0 holds an exclusive lock on ``<run_dir>/.lock`` while it runs.

Two runs started into the same ``hydra.run.dir`` (two shells, a sweep relaunched by hand) would
both pass the "folder already holds a run" check, since neither has written yet, and then
interleave ``metrics.jsonl`` rows, overwrite each other's checkpoints and share a W&B run. The
lock is ``fcntl.flock`` on a file in the folder: the kernel drops it when the process ends
however it ends (``kill -9`` included), so there is no stale lock to clean up, and the file left
behind means nothing. It holds the owner's pid and host, for the message the second run prints.

The decision is rank 0's and is broadcast, so under ``torchrun`` every rank of a refused run
stops with the same one-line error (exit 2). Locks are per host: a folder shared over NFS by two
nodes' rank 0 is not guarded (``flock`` over NFS is best-effort).
"""
from __future__ import annotations

import fcntl
import os
import socket
from contextlib import contextmanager
from pathlib import Path

from funcall.dist import DistInfo, broadcast_object
from funcall.utils.errors import ConfigError


def try_lock(run_dir: Path):
    """``(open lock file, None)`` when this process now holds the folder, else ``(None, owner)``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / ".lock", "a+")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        return None, owner
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    return handle, None


@contextmanager
def run_dir_lock(run_dir: Path, dist: DistInfo, option: str = "hydra.run.dir"):
    """Hold ``run_dir`` for the body (rank 0 locks, every rank learns the outcome)."""
    handle, owner = try_lock(Path(run_dir)) if dist.is_main else (None, None)
    owner = broadcast_object(owner)
    if owner is not None:
        raise ConfigError(f"{option}={run_dir} is in use by another run ({owner}); wait for it to end "
                          f"or pick another {option}", every_rank=True)
    try:
        yield
    finally:
        if handle is not None:
            handle.close()
