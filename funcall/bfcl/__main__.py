"""`python -m funcall.bfcl check --input IN.jsonl --output OUT.jsonl`: BFCL verdicts for model outputs.

Each input line is a JSON object with `category` (one of the 12 single-turn categories), `question`
(the BFCL entry's `{"question", "function"}`), `possible_answer` (its ground_truth list; null for
irrelevance), and the model output as `model_output` (already decoded `[{name: {arg: value}}]`, as
FC models give it) and/or `model_output_text` (raw text, decoded as BFCL decodes prompting
models); the decoded form wins when both are present. Each output line holds `valid`,
`error_type` (null when valid), `error` (the details, when not valid) and the input's `case_id` / `id`, in input order. A bad row
(bad JSON, missing field, unknown category) gets `valid: false` with an `input_error:*` type
instead of stopping the run. The output file is written atomically (temporary file + rename).
Exit codes: 0 done, 2 input file unreadable or output not writable.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from funcall.bfcl.checker import SINGLE_TURN_CATEGORIES, Verdict, check, is_irrelevance
from funcall.bfcl.decode import decode_text
from funcall.bfcl.rows import RowReader

ID_FIELDS = ("case_id", "id")
MIN_ROWS_PER_JOB = 1000  # below this a worker process costs more than it saves
MIN_BYTES_FOR_JOBS = 256 * 1024
ENCODER = json.JSONEncoder(ensure_ascii=False, default=repr)  # one encoder: json.dumps(**options) builds one per call
_encode_string = json.encoder.encode_basestring  # what ENCODER uses for a str (ensure_ascii=False)


def _input_error(kind: str, message: str) -> Verdict:
    return Verdict(False, f"input_error:{kind}", [message])


def verdict_for_row(row: Any) -> Verdict:
    if not isinstance(row, dict):
        return _input_error("bad_row", "a row must be a JSON object")
    category = row.get("category")
    if category not in SINGLE_TURN_CATEGORIES:
        return _input_error("unknown_category", f"unknown category {category!r}")
    question = row.get("question")
    functions = question.get("function") if isinstance(question, dict) else row.get("function")
    if not isinstance(functions, list):
        return _input_error("missing_field", "question.function (the list of function docs) is required")
    possible_answer = row.get("possible_answer")
    if not is_irrelevance(category) and not (isinstance(possible_answer, list) and possible_answer):
        return _input_error("missing_field", "possible_answer (the ground_truth list) is required")
    if row.get("model_output") is not None:
        decoded = row["model_output"]
    elif isinstance(row.get("model_output_text"), str):
        decoded = decode_text(row["model_output_text"], category)
    else:
        return _input_error("missing_field", "model_output or model_output_text is required")
    return check(category, functions, possible_answer, decoded)


def _output_row(row: Any, verdict: Verdict) -> dict:
    out = {key: row[key] for key in ID_FIELDS if isinstance(row, dict) and key in row}
    out["valid"], out["error_type"] = verdict.valid, verdict.error_type
    if not verdict.valid:
        out["error"] = verdict.error[0] if len(verdict.error) == 1 else verdict.error
    return out


_VALID_SUFFIX = ENCODER.encode({"valid": True, "error_type": None})[1:]  # '"valid": true, "error_type": null}'


def _encoded_output_row(row: Any, verdict: Verdict) -> str:
    """ENCODER.encode(_output_row(row, verdict)), without the intermediate dict when the ids are
    strings (the same text: the encoder's own string encoding and separators)."""
    text = "{"
    if type(row) is dict:
        for key in ID_FIELDS:
            if key in row:
                value = row[key]
                if type(value) is not str:
                    return ENCODER.encode(_output_row(row, verdict))
                text += f'"{key}": {_encode_string(value)}, '
    if verdict.valid:
        return text + _VALID_SUFFIX
    error = verdict.error[0] if len(verdict.error) == 1 else verdict.error
    return f'{text}"valid": false, "error_type": {ENCODER.encode(verdict.error_type)}, "error": {ENCODER.encode(error)}}}'


def verdict_rows(lines: Iterable[str], first_row_number: int = 1) -> Iterator[tuple[str, bool]]:
    """(encoded output row, valid) for every non-blank input line, in order."""
    number = first_row_number
    load = RowReader().load  # json.loads, parsing a question repeated from the row before only once
    for line in lines:
        if not line or line.isspace():
            continue
        try:
            row = load(line)
        except ValueError as error:
            row, verdict = None, _input_error("bad_json", f"row {number}: {error}")
        else:
            verdict = verdict_for_row(row)
        number += 1
        yield _encoded_output_row(row, verdict), verdict.valid


_SHARED_LINES: list[str] = []  # the input, inherited by forked workers instead of being pickled


def _verdicts_for_chunk(bounds: tuple[int, int]) -> list[tuple[str, bool]]:
    start, end = bounds
    return list(verdict_rows(_SHARED_LINES[start:end], start + 1))


def _parallel_verdicts(input_path: Path, jobs: int) -> Iterable[tuple[str, bool]] | None:
    """Verdicts computed by `jobs` forked workers, or None when that is not worth it here."""
    global _SHARED_LINES
    if jobs < 2 or input_path.stat().st_size < MIN_BYTES_FOR_JOBS:
        return None
    import multiprocessing  # here, not at the top: it costs ~5 ms of start-up

    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    with open(input_path, encoding="utf-8", errors="replace") as source:
        lines = [line for line in source if line and not line.isspace()]
    if len(lines) < MIN_ROWS_PER_JOB * 2:
        return verdict_rows(lines)
    chunk = -(-len(lines) // jobs)
    _SHARED_LINES = lines
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            parts = pool.map(_verdicts_for_chunk, [(i, min(i + chunk, len(lines))) for i in range(0, len(lines), chunk)])
    finally:
        _SHARED_LINES = []
    return (row for part in parts for row in part)


def _temporary_file(target: Path) -> tuple[int, str]:
    """A new file `.NAME.RANDOM` next to `target`, as tempfile.mkstemp makes it (tempfile itself
    costs ~3 ms of start-up)."""
    while True:
        path = target.parent / f".{target.name}.{os.urandom(6).hex()}"
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), str(path)
        except FileExistsError:
            continue


def check_file(input_path: Path, output_path: Path, jobs: int = 1) -> tuple[int, int]:
    """Writes one verdict row per non-blank input line, in order; returns (rows, valid rows).
    One process streams the file; with jobs > 1 and a large input the rows are split among
    forked workers. The output appears only when complete (temporary file + rename)."""
    rows = valid = 0
    output_path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = _temporary_file(output_path)
    gc.disable()  # rows are freed by reference counting; the cyclic collector only slows the loop down
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as sink, open(input_path, encoding="utf-8", errors="replace") as source:
            results = _parallel_verdicts(input_path, jobs) or verdict_rows(source)
            for encoded, ok in results:
                sink.write(encoded + "\n")
                rows += 1
                valid += ok
        os.replace(temporary, output_path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    finally:
        gc.enable()
    return rows, valid


def _jobs_option(value: str) -> str | int:
    if value == "auto":
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError(f"expected a positive number or auto, got {value!r}")


def _jobs(requested: str | int) -> int:
    if requested != "auto":
        return int(requested)
    cores = os.cpu_count() or 1
    idle_cores = cores - os.getloadavg()[0]
    return 2 if cores > 1 and idle_cores >= 0.5 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m funcall.bfcl", description="BFCL single-turn AST checker (official verdicts, no tree-sitter, no eval).")
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="write a verdict row for every model-output row", description=__doc__.split("\n\n")[1])
    check_parser.add_argument("--input", required=True, type=Path, help="JSONL rows: category, question, possible_answer, model_output / model_output_text")
    check_parser.add_argument("--output", required=True, type=Path, help="JSONL verdicts, one per input row, same order")
    check_parser.add_argument(
        "--jobs", default="auto", type=_jobs_option,
        help="worker processes for large inputs: a number, or auto (default): 2 when at least half a core is idle (load average), else 1",
    )
    multi = commands.add_parser("check-multi-turn", help="verdicts for multi-turn trajectories (BFCL's multi_turn_checker)",
                                description="Rows: id, model_output (turns -> steps -> call strings), optionally entry "
                                            "and ground_truth; see funcall/bfcl/multi_turn_cli.py.")
    multi.add_argument("--input", required=True, type=Path, help="JSONL rows: id, model_output [, entry, ground_truth]")
    multi.add_argument("--output", required=True, type=Path, help="JSONL verdicts (id, valid, error_type), same order")
    multi.add_argument("--data-dir", default=None, help="folder with BFCL_v4_multi_turn_*.json and possible_answer/ "
                                                        "(default: the installed bfcl-eval package's data)")
    multi.add_argument("--timeout", type=float, default=10.0, help="seconds one call may run before it is stopped")
    args = parser.parse_args(argv)
    if not args.input.is_file() or not os.access(args.input, os.R_OK):
        print(f"error: cannot read input file {args.input}", file=sys.stderr)
        return 2
    try:
        if args.command == "check-multi-turn":
            return _check_multi_turn(args)
        rows, valid = check_file(args.input, args.output, _jobs(args.jobs))
    except OSError as error:
        print(f"error: {error.filename or args.output}: {error.strerror or error}", file=sys.stderr)
        return 2
    print(f"{rows} rows, {valid} valid -> {args.output}", file=sys.stderr)
    return 0


def _check_multi_turn(args) -> int:
    from funcall.bfcl.multi_turn_cli import check_multi_turn_file
    from funcall.envs.bfcl_data import installed_bfcl_data
    from funcall.utils.errors import UserError

    data_dir = args.data_dir or installed_bfcl_data()
    if data_dir is not None and not Path(data_dir).is_dir():
        print(f"error: --data-dir {data_dir}: no such directory", file=sys.stderr)
        return 2
    try:
        rows, valid = check_multi_turn_file(args.input, args.output, data_dir, args.timeout)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{rows} rows, {valid} valid -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
