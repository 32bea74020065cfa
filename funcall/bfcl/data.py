"""Read BFCL v4 single-turn data: `BFCL_v4_<category>.json` + `possible_answer/BFCL_v4_<category>.json`.

Both files are JSON lines. Questions and possible answers are paired by position, as BFCL's runner
does (it does not trust the ids to line up). Irrelevance categories have no possible-answer file;
their entries get `ground_truth=None`. The directory is always an argument: the package never
looks for data by itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from funcall.bfcl.checker import SINGLE_TURN_CATEGORIES, is_irrelevance


@dataclass(frozen=True)
class Entry:
    id: str
    category: str
    question: list  # [[{"role", "content"}, ...]] (one list of messages per turn)
    functions: list[dict]
    ground_truth: list[dict] | None  # [{name: {param: [acceptable values]}}], None for irrelevance


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_category(data_dir: str | Path, category: str, limit: int | None = None) -> list[Entry]:
    if category not in SINGLE_TURN_CATEGORIES:
        raise ValueError(f"unknown category {category!r}")
    data_dir = Path(data_dir)
    questions = read_jsonl(data_dir / f"BFCL_v4_{category}.json")
    answers: list[dict | None] = [None] * len(questions)
    if not is_irrelevance(category):
        answers = read_jsonl(data_dir / "possible_answer" / f"BFCL_v4_{category}.json")
        if len(answers) != len(questions):
            raise ValueError(f"{category}: {len(questions)} questions but {len(answers)} possible answers")
    entries = [
        Entry(q["id"], category, q["question"], q["function"], None if a is None else a["ground_truth"])
        for q, a in zip(questions, answers)
    ]
    return entries[:limit] if limit is not None else entries

