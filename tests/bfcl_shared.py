"""Where the tests find the official BFCL data (shared/ beside the repository) and the corpus."""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "bfcl" / "data"
CORPUS = REPO / "tests" / "data" / "bfcl" / "conformance.jsonl.gz"
EDITS = REPO / "tests" / "data" / "bfcl" / "java_js_character_edits.jsonl.gz"
EXCEPTIONS = REPO / "tests" / "data" / "bfcl" / "ground_truth_exceptions.json"

needs_bfcl_data = pytest.mark.skipif(not DATA_DIR.is_dir(), reason=f"BFCL data not found at {DATA_DIR}")


@lru_cache(maxsize=1)
def entries_by_id() -> dict:
    from funcall.bfcl.checker import SINGLE_TURN_CATEGORIES
    from funcall.bfcl.data import load_category

    return {entry.id: entry for category in SINGLE_TURN_CATEGORIES for entry in load_category(DATA_DIR, category)}


def corpus_cases(path: Path = CORPUS) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]
