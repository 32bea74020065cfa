"""Examples from files: JSONL in our schema (``data=jsonl``) and the xLAM-60k format (``data=xlam``).

``data.path`` may also be a local dataset folder or a Hugging Face Hub dataset id (with
``data.split``, ``data.name``, ``data.revision``); `funcall.data.hub.read_rows` decides which.
Files are read and validated whole before training starts, so a bad line stops the run at once
with ``<file>:<line>: <what is wrong>`` (a `DataError`), before anything is written to the run
directory. Held-out examples are a seeded slice of the file (``eval_size``) or a separate file.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from funcall.data.hub import read_rows
from funcall.data.schema import Example
from funcall.data.xlam import example_from_xlam
from funcall.utils.errors import DataError


def read_json_rows(path: str | Path) -> list[tuple[str, object]]:
    """``(where, row)`` pairs from a JSONL file or a JSON array file; ``where`` is ``file:line``."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    text = p.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}:{exc.lineno}: invalid JSON ({exc.msg})") from None
        return [(f"{p}[{i}]", r) for i, r in enumerate(rows)]
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((f"{p}:{n}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}:{n}: invalid JSON ({exc.msg})") from None
    if not out:
        raise DataError(f"{p}: no examples in file")
    return out


class FileSource:
    """A data source over a list of examples, with a held-out split."""

    def __init__(self, examples: list[Example], eval_size: int = 200, eval_examples: list[Example] | None = None,
                 seed: int = 0):
        if eval_examples is None:
            order = list(range(len(examples)))
            random.Random(seed).shuffle(order)
            n_eval = min(eval_size, len(examples) // 5)
            held = set(order[:n_eval])
            eval_examples = [examples[i] for i in sorted(held)]
            examples = [e for i, e in enumerate(examples) if i not in held]
        self._train, self._held_out = examples, eval_examples

    def train(self) -> list[Example]:
        return self._train

    def held_out(self) -> list[Example]:
        return self._held_out


def _load(path: str, parse, split: str, name: str | None, revision: str | None, option: str) -> list[Example]:
    rows = read_rows(path, read_json_rows, split=split, name=name, revision=revision, option=option)
    return [parse(row, where) for where, row in rows]


def _source(parse, path: str, eval_path: str | None, eval_size: int, seed: int, split: str, name: str | None,
            revision: str | None) -> FileSource:
    train = _load(path, parse, split, name, revision, "data.path")
    held = _load(eval_path, parse, split, name, revision, "data.eval_path") if eval_path else None
    return FileSource(train, eval_size, held, seed)


def jsonl_source(path: str, eval_path: str | None = None, eval_size: int = 200, seed: int = 0, split: str = "train",
                 name: str | None = None, revision: str | None = None) -> FileSource:
    parse = lambda row, where: Example.from_row(row, where)  # noqa: E731
    return _source(parse, path, eval_path, eval_size, seed, split, name, revision)


def xlam_source(path: str, eval_path: str | None = None, eval_size: int = 200, seed: int = 0, split: str = "train",
                name: str | None = None, revision: str | None = None) -> FileSource:
    return _source(example_from_xlam, path, eval_path, eval_size, seed, split, name, revision)
