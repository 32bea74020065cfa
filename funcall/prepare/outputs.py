"""Write the pipeline's outputs into DIR, each file whole or not at all.

`train.jsonl` (kept samples in our schema, `Example.to_row()`, input order), `rejected.jsonl`
(`id`, `stage`, `reason`, `detail`), the Hugging Face dataset of the kept samples (`dataset/`,
`save_to_disk`), and last `report.json`. Each is written to a temporary name in DIR and renamed
over the old one, so a run killed at any point leaves either the previous complete file or the
new complete file, never a truncated one; report.json goes last, so a report always describes
files that are all there.

The dataset's nested fields (`tools`, `messages`, `calls`, `possible_answer`, `meta`) are JSON text:
Arrow wants one type per column, and tool schemas differ from row to row (an xLAM default may be a
string in one tool and a number in the next). `json.loads` them back, or read train.jsonl, which
is the same data.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from funcall.utils.atomic import write_json_atomic, write_jsonl_atomic

JSON_COLUMNS = ("tools", "messages", "calls", "possible_answer", "meta")
COLUMNS = ("id", "category", "reasoning") + JSON_COLUMNS


def dataset_columns(rows: list[dict]) -> dict[str, list]:
    columns: dict[str, list] = {name: [] for name in COLUMNS}
    for row in rows:
        for name in COLUMNS:
            value = row.get(name)
            columns[name].append(json.dumps(value, ensure_ascii=False) if name in JSON_COLUMNS else value)
    return columns


def save_dataset_atomic(path: Path, rows: list[dict]) -> None:
    from datasets import Dataset, Features, Value
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()  # ours is the only bar
    features = Features({name: Value("string") for name in COLUMNS})
    dataset = Dataset.from_dict(dataset_columns(rows), features=features)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    old = None
    try:
        dataset.save_to_disk(str(tmp))
        os.chmod(tmp, 0o755)  # mkdtemp made it private
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            path.rename(old)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not path.exists():
            old.rename(path)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_outputs(out_dir: Path, kept: list[dict], rejected: list[dict], report: dict) -> dict[str, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(out_dir / "train.jsonl", kept)
    write_jsonl_atomic(out_dir / "rejected.jsonl", rejected)
    save_dataset_atomic(out_dir / "dataset", kept)
    write_json_atomic(out_dir / "report.json", report)
    return {"train": "train.jsonl", "rejected": "rejected.jsonl", "dataset": "dataset", "report": "report.json"}
