"""BFCL v4 files as a data source (``data=bfcl data.path=DIR``).

Each BFCL entry becomes an `Example` that keeps BFCL's own grading: its category and its full
``possible_answer`` (every acceptable value), so ``eval/ast_accuracy`` on it is BFCL's AST
accuracy. The SFT target needs one concrete answer: we take the first acceptable value of each
parameter and leave out parameters whose first option is ``""`` (may be omitted). Only the
first turn of each question is used (these categories are single-turn).
"""
from __future__ import annotations

from pathlib import Path

from funcall.bfcl.data import Entry, load_category
from funcall.data.files import FileSource
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


class BFCLSource(FileSource):
    def __init__(self, data_dir: str, categories: list[str], eval_size: int = 200, seed: int = 0):
        super().__init__(load_bfcl_examples(data_dir, list(categories)), eval_size=eval_size, seed=seed)
