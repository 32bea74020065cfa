"""Files and folders written whole or not at all: a temporary beside them, then a rename.

A reader (or a resumed run) never sees half a file, and a failure part-way (a full disk, a kill,
a value that does not serialise) leaves the previous file as it was and no temporary behind.
`write_dir_atomic` does the same for a folder of files (an HF export): written beside, then
swapped in with two renames. A kill (which nothing can catch) during the write leaves a hidden
``.<name>.*`` folder beside the untouched one; between the two renames, the new folder under that
name and the old one under ``<name>.old``; neither is ever half-written in ``<name>``'s place.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO


def write_atomic(path: Path, write: Callable[[TextIO], None]) -> None:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    def write(f: TextIO) -> None:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")

    write_atomic(path, write)


def write_jsonl_atomic(path: Path, rows: Iterable[dict]) -> None:
    write_atomic(path, lambda f: f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def write_dir_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(folder)`` on a fresh folder beside ``path``, then put it in ``path``'s place.
    On failure the folder is removed and ``path`` is as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        write(staging)
        staging.chmod(0o755)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = path.with_name(f"{path.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    staging.rename(path)
    shutil.rmtree(old, ignore_errors=True)
