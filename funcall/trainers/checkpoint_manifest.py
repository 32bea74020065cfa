"""The manifest of a checkpoint tag: every file's size and sha256, and the check against it.

A tag folder (``checkpoints/step_00000040``) is trusted only if its ``manifest.json`` exists and
every file it lists has the listed size and sha256. The manifest is written last, after every
rank's files are on disk, so its presence is what marks a save as complete (DeepSpeed's
``latest`` file only says that rank 0 finished, and a file cut by ``kill -9`` or overwritten
later still loads into a traceback or, worse, into wrong weights). Files that appear after the
manifest was written are ignored; the ones it lists must all be there and intact.

These are pure functions on a folder: `checkpoint` splits the hashing between ranks (``names``
is the slice a rank takes) and writes or reads the result. Problems come back as one line that
names the file as ``<label>/<name>``, where ``label`` is how the caller shows the tag folder.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from funcall.utils.atomic import write_json_atomic

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


def tag_files(tag_dir: Path) -> list[str]:
    """Every file under ``tag_dir`` as a sorted relative POSIX path, without the manifest and
    without hidden files (the temporary files of atomic writes)."""
    tag_dir = Path(tag_dir)
    names = [p.relative_to(tag_dir).as_posix() for p in tag_dir.rglob("*") if p.is_file()]
    return sorted(n for n in names if n != MANIFEST and not any(part.startswith(".") for part in n.split("/")))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe(tag_dir: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """``{name: {"size": bytes, "sha256": hex}}`` of the files ``names`` of ``tag_dir``."""
    tag_dir = Path(tag_dir)
    return {n: {"size": (tag_dir / n).stat().st_size, "sha256": sha256_file(tag_dir / n)} for n in names}


def write_manifest(tag_dir: Path, files: dict[str, dict[str, Any]]) -> None:
    """Write ``manifest.json`` (atomically: it exists whole or not at all)."""
    write_json_atomic(Path(tag_dir) / MANIFEST, {"version": 1, "files": files})


def read_manifest(tag_dir: Path, label: str) -> tuple[dict[str, dict[str, Any]] | None, str | None]:
    """``(files, None)``, or ``(None, reason)`` when the manifest is missing or unreadable."""
    path = Path(tag_dir) / MANIFEST
    if not path.exists():
        return None, f"{label}: no manifest (incomplete save)"
    try:
        files = json.loads(path.read_text())["files"]
        if not isinstance(files, dict) or not all(isinstance(v, dict) and {"size", "sha256"} <= set(v)
                                                  for v in files.values()):
            raise ValueError("not a map of files to size and sha256")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"{label}/{MANIFEST}: unreadable ({type(exc).__name__}: {exc})"
    return files, None


def check_files(tag_dir: Path, files: dict[str, dict[str, Any]], names: list[str], label: str) -> str | None:
    """The first problem among ``names`` (entries of ``files``), or None when all match. Sizes and
    presence are checked first, for every name, so that a cheap mismatch is found before any
    file is hashed."""
    tag_dir = Path(tag_dir)
    for name in names:
        path, want = tag_dir / name, files[name]
        if not path.is_file():
            return f"{label}/{name}: missing, manifest lists it"
        size = path.stat().st_size
        if size != want["size"]:
            return f"{label}/{name}: {size} bytes, manifest says {want['size']}"
    for name in names:
        if sha256_file(tag_dir / name) != files[name]["sha256"]:
            return f"{label}/{name}: sha256 differs from the manifest's (the file changed after it was saved)"
    return None


def verify_tag(tag_dir: Path, label: str, rank: int = 0, world_size: int = 1) -> str | None:
    """Check this rank's share (every ``world_size``-th file of the manifest's sorted list, from
    ``rank``) of the tag; None when it matches. The manifest's own problems are every rank's."""
    files, problem = read_manifest(tag_dir, label)
    if files is None:
        return problem
    return check_files(tag_dir, files, sorted(files)[rank::world_size], label)
