"""BFCL v4 files as a data source (``data=bfcl data.path=DIR``).

Each BFCL entry becomes an `Example` that keeps BFCL's own grading: its category and its full
``possible_answer`` (every acceptable value), so ``eval/ast_accuracy`` on it is BFCL's AST
accuracy. The SFT target needs one concrete answer: we take the first acceptable value of each
parameter and leave out parameters whose first option is ``""`` (may be omitted). Only the
first turn of each question is used (these categories are single-turn).

``data.path`` is a folder of BFCL files, or (through `funcall.data.hub.read_rows`) a Hub dataset id
or a local dataset folder whose rows are BFCL entries with their possible answer merged in:
``{"id", "question", "function", "ground_truth"}`` (``ground_truth`` null or absent for
irrelevance), plus ``category`` (else read from the id, ``live_simple_3-3-0`` -> ``live_simple``);
``function``, ``question`` and ``ground_truth`` may be JSON strings. A folder holding
``BFCL_v4_*.json`` files is always read as BFCL's own layout.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from funcall.bfcl.checker import SINGLE_TURN_CATEGORIES
from funcall.bfcl.data import Entry, load_category
from funcall.data.files import FileSource
from funcall.data.hub import read_rows
from funcall.data.schema import Example
from funcall.utils.errors import DataError


def example_from_entry(entry: Entry) -> Example:
    calls = []
    for call in entry.ground_truth or []:
        (name, options), = call.items()
        args = {k: v[0] for k, v in options.items() if v and v[0] != ""}
        calls.append({"name": name, "arguments": args})
    return Example(id=entry.id, tools=entry.functions, messages=list(entry.question[0]), calls=calls,
                   category=entry.category, possible_answer=entry.ground_truth)


def load_bfcl_examples(data_dir: str | Path, categories: list[str], limit: int | None = None) -> list[Example]:
    out = []
    for category in categories:
        try:
            out += [example_from_entry(e) for e in load_category(data_dir, category, limit)]
        except FileNotFoundError as exc:
            raise DataError(f"{exc.filename}: no such file (data.path / eval.data_dir must hold BFCL_v4_*.json)") from None
        except ValueError as exc:
            raise DataError(f"{data_dir}: {exc}") from None
    return out


def _field(row: dict, name: str, where: str):
    value = row.get(name)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: field '{name}' is not valid JSON ({exc.msg})") from None
    return value


def entry_from_row(row: object, where: str) -> Entry:
    """A BFCL entry from a dataset row (see the module docstring for the fields)."""
    if not isinstance(row, dict) or not isinstance(row.get("id"), str):
        raise DataError(f"{where}: expected a BFCL entry with a string 'id'")
    category = row.get("category") or re.sub(r"_\d+(-[\d-]+)?$", "", row["id"])
    if category not in SINGLE_TURN_CATEGORIES:
        raise DataError(f"{where}: unknown BFCL category {category!r} (give a 'category' field)")
    question, functions = _field(row, "question", where), _field(row, "function", where)
    if not (isinstance(question, list) and question and isinstance(question[0], list)):
        raise DataError(f"{where}: field 'question' must be a list of turns (lists of messages)")
    if not isinstance(functions, list):
        raise DataError(f"{where}: field 'function' must be a list of function documents")
    return Entry(row["id"], category, question, functions, _field(row, "ground_truth", where))


def bfcl_examples(path: str, categories: list[str], *, split: str = "train", name: str | None = None,
                  revision: str | None = None, option: str = "data.path") -> list[tuple[str, Example]]:
    """``(where, example)`` pairs of ``categories`` from a BFCL folder or a dataset of BFCL entries."""
    def read_folder(folder: str) -> list[tuple[str, Example]]:
        if Path(folder).is_file():
            raise DataError(f"{folder}: not a directory ({option} for BFCL data is a folder of BFCL_v4_*.json files)")
        return [(f"{folder}/BFCL_v4_{e.category}.json#{e.id}", e) for e in load_bfcl_examples(folder, categories)]

    local = Path(path).is_dir() and any(Path(path).glob("BFCL_v4_*.json"))
    rows = read_rows(path, read_folder, split=split, name=name, revision=revision, option=option, local_dirs=local)
    if rows and isinstance(rows[0][1], Example):
        return rows
    examples = [(where, example_from_entry(entry_from_row(row, where))) for where, row in rows]
    return [(where, e) for where, e in examples if e.category in categories]


class BFCLSource(FileSource):
    def __init__(self, data_dir: str, categories: list[str], eval_size: int = 200, seed: int = 0, split: str = "train",
                 name: str | None = None, revision: str | None = None):
        examples = [e for _, e in bfcl_examples(data_dir, list(categories), split=split, name=name, revision=revision)]
        super().__init__(examples, eval_size=eval_size, seed=seed)
