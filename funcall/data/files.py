"""Examples from files: JSONL in our schema (``data=jsonl``) and the xLAM-60k format (``data=xlam``).

Files are read and validated whole before training starts, so a bad line stops the run at once
with ``<file>:<line>: <what is wrong>`` (a `DataError`), before anything is written to the run
directory. Held-out examples are a seeded slice of the file (``eval_size``) or a separate file.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

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


def _load(path: str, parse) -> list[Example]:
    return [parse(row, where) for where, row in read_json_rows(path)]


def jsonl_source(path: str, eval_path: str | None = None, eval_size: int = 200, seed: int = 0) -> FileSource:
    parse = lambda row, where: Example.from_row(row, where)  # noqa: E731
    return FileSource(_load(path, parse), eval_size, _load(eval_path, parse) if eval_path else None, seed)


def xlam_source(path: str, eval_path: str | None = None, eval_size: int = 200, seed: int = 0) -> FileSource:
    return FileSource(_load(path, example_from_xlam), eval_size,
                      _load(eval_path, example_from_xlam) if eval_path else None, seed)
