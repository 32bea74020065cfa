"""Read the pipeline's input (`input.format=xlam | bfcl | jsonl`) into samples and input rejections.

How this differs from the training loaders (`funcall.data.files`): those stop at the first bad
row, because training on a silently shrunk file is worse than not starting. Here a file that
cannot be read at all (missing, a line that is not JSON, a missing BFCL file) still stops the run
with one line naming file and line, but a row that is JSON and merely wrong becomes a rejection:
a row that does not fit the format is rejected at stage `input` (`malformed_row`), a repeated id
at stage `input` (`duplicate_id`: ids name samples in every output), and a row whose reference
answer cannot be read is kept as a sample whose `answer_error` says why (the judge may rewrite
it; the AST stage rejects it as `unparseable_answer` otherwise). Every row read is accounted for.
If no row at all fits the format, the run stops (`input.format` is probably wrong).
``input.path`` may also be a local dataset folder or a Hub dataset id (``input.split``,
``input.name``, ``input.revision``), read by `funcall.data.hub.read_rows` as training data is.
"""
from __future__ import annotations

import json

from funcall.data.schema import Example
from funcall.data.xlam import example_from_xlam, xlam_calls
from funcall.prepare.samples import Rejection, Sample
from funcall.utils.errors import ConfigError, DataError

FORMATS = ("xlam", "bfcl", "jsonl")
BFCL_DEFAULT = ("simple_python", "multiple", "parallel", "parallel_multiple", "live_simple", "live_multiple",
                "live_parallel", "live_parallel_multiple")


def read_samples(path: str, fmt: str, categories: list[str] | None = None, limit: int | None = None,
                 split: str = "train", name: str | None = None,
                 revision: str | None = None) -> tuple[list[Sample], list[Rejection], int]:
    """(samples, rejections, number of input rows); every row is in exactly one of the lists."""
    if fmt not in FORMATS:
        raise ConfigError(f"input.format: {fmt!r} is not one of {', '.join(FORMATS)}")
    hub = {"split": split, "name": name, "revision": revision, "option": "input.path"}
    if fmt == "bfcl":
        items = _bfcl_items(path, categories or list(BFCL_DEFAULT), limit, hub)
    else:
        from funcall.data.files import read_json_rows
        from funcall.data.hub import read_rows

        rows = read_rows(path, read_json_rows, **hub)
        rows = rows[:limit] if limit is not None else rows
        convert = _from_xlam if fmt == "xlam" else _from_jsonl
        items = []
        for where, row in rows:
            try:
                items.append(convert(row, where))
            except DataError as exc:
                items.append((where, _row_id(row, where), str(exc)))
    samples, rejections, first_seen = [], [], {}
    for index, item in enumerate(items):
        if isinstance(item, tuple):
            where, sample_id, message = item
            rejections.append(Rejection(index, sample_id, "input", "malformed_row", message))
            continue
        item.index = index
        if item.id in first_seen:
            rejections.append(Rejection(index, item.id, "input", "duplicate_id", f"{item.where}: id also at {first_seen[item.id]}"))
            continue
        first_seen[item.id] = item.where
        samples.append(item)
    if items and not samples and all(r.reason == "malformed_row" for r in rejections):
        raise DataError(f"{rejections[0].detail} (and every other row: is input.format={fmt} right?)")
    return samples, rejections, len(items)


def _row_id(row: object, where: str) -> str:
    value = row.get("id") if isinstance(row, dict) else None
    return str(value) if value is not None else where


def _from_xlam(row: object, where: str) -> Sample:
    example = example_from_xlam(row, where, keep_raw_answers=True)
    sample = Sample(0, where, example)
    if "answer_error" in example.meta:
        raw = example.meta.pop("raw_answers")
        sample.answer_error = example.meta.pop("answer_error")
        sample.raw_answer = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    sample.reasoning_source = "input" if example.reasoning else None
    return sample


def _from_jsonl(row: object, where: str) -> Sample:
    answer_error, raw = None, None
    if isinstance(row, dict) and "calls" in row:
        try:
            calls = xlam_calls(row["calls"], where, field="calls")
        except DataError as exc:
            answer_error = str(exc)
            raw = row["calls"] if isinstance(row["calls"], str) else json.dumps(row["calls"], ensure_ascii=False)
            calls = []
        row = {**row, "calls": calls}
    example = Example.from_row(row, where)
    sample = Sample(0, where, example, answer_error, raw)
    sample.reasoning_source = "input" if example.reasoning else None
    return sample


def _bfcl_items(path: str, categories: list[str], limit: int | None, hub: dict) -> list[Sample]:
    from funcall.data.bfcl_source import bfcl_examples

    pairs = bfcl_examples(path, list(categories), **hub)
    pairs = pairs[:limit] if limit is not None else pairs
    return [Sample(0, where, e) for where, e in pairs]
