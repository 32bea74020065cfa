"""Write a labelled corpus: each generated row with the official checker's verdict, gzipped JSON lines.

Shared by the corpus builders of this folder whose labels are ``{"valid", "error_type"}`` dicts in
row order. The file is written with ``gzip.open``, so its header carries the time of writing (the
bytes differ between runs even when the rows do not); ``build_bfcl_corpus.py`` writes its own,
byte-reproducible files and does not use this.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def write_corpus(rows: list[dict], labels: list[dict], out: Path) -> dict[str, int]:
    """Write ``{**row, **label}`` per line to ``out`` (its folder made if missing) and print a summary.

    The summary line gives the number of rows, ``out`` relative to the repository and how many
    rows were valid or failed with each ``error_type``; that count is also returned.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wt", encoding="utf-8") as f:
        for row, label in zip(rows, labels):
            f.write(json.dumps({**row, **label}) + "\n")
    verdict_counts: dict[str, int] = {}
    for label in labels:
        verdict = "valid" if label["valid"] else label["error_type"]
        verdict_counts[verdict] = verdict_counts.get(verdict, 0) + 1
    print(f"{len(rows)} rows -> {out.relative_to(REPO)}: {json.dumps(verdict_counts, sort_keys=True)}")
    return verdict_counts
