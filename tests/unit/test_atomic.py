"""Files and folders written whole or not at all (`funcall.utils.atomic`): what a failure part-way
leaves. The 0.5B rehearsal met one for real: a full disk in the HF export of a resumed run."""
from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from funcall.utils.atomic import write_dir_atomic, write_json_atomic


def full_disk(*_):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_folder_is_swapped_in_whole(tmp_path: Path):
    out = tmp_path / "hf_model"
    write_dir_atomic(out, lambda d: (d / "a.txt").write_text("first"))
    write_dir_atomic(out, lambda d: (d / "b.txt").write_text("second"))
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]  # the old folder's files are gone with it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf_model"]  # no staging, no .old


def test_a_failure_part_way_leaves_the_previous_folder_whole(tmp_path: Path):
    out = tmp_path / "hf_model"
    write_dir_atomic(out, lambda d: (d / "model.safetensors").write_bytes(b"x" * 1000))

    def half_then_full(folder: Path) -> None:
        (folder / "model.safetensors").write_bytes(b"y" * 10)  # half a file, then the disk is full
        full_disk()

    with pytest.raises(OSError, match="No space left"):
        write_dir_atomic(out, half_then_full)
    assert (out / "model.safetensors").read_bytes() == b"x" * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf_model"]


def test_a_json_file_that_fails_to_serialise_leaves_the_previous_one(tmp_path: Path):
    path = tmp_path / "summary.json"
    write_json_atomic(path, {"steps": 2})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"steps": object()})
    assert json.loads(path.read_text()) == {"steps": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
