"""Whole-process speed of funcall's BFCL checker against the official `bfcl-eval` checker.

    .venv/bin/python experiments/benchmarks/checker_speed.py [--repeats 5] [--data-dir ../shared/bfcl/data]

Cases: every BFCL ground truth of the 10 non-irrelevance single-turn categories rendered as text in
its language (tests/tools/bfcl_render.py), plus every case of the labelled conformance corpus
(tests/data/bfcl/conformance.jsonl.gz), written once as a JSONL file in the format of
`python -m funcall.bfcl check`. Each checker then runs as a fresh process that reads the file,
decodes, checks and writes one verdict per row:
  ours      `python -m funcall.bfcl check --input ... --output ... --jobs 1`, then --jobs 2 and the
            default --jobs auto (a second worker only when a core is idle)
  official  experiments/benchmarks/bfcl_official.py in its own venv (~/.cache/funcall/bfcl-venv,
            created on first use: bfcl-eval 2026.3.23 without dependencies + tree-sitter)
funcall's modules are byte-compiled first (bfcl-eval's were at install). Runs are interleaved
(ours, official, ours, ...) `--repeats` times; the report gives each one's
median and best wall time, the ratio official / ours (above 1: ours is faster), the machine's load
average (other work on the 2 cores slows both sides) and whether the two agree on every verdict.
It is written to stdout and to experiments/benchmarks/checker_speed.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(Path(__file__).resolve().parent)]

from bfcl_official import ensure_venv

from funcall.bfcl.checker import SINGLE_TURN_CATEGORIES, is_irrelevance, language_of
from funcall.bfcl.data import load_category
from tools.bfcl_render import ground_truth_calls, render_text
from tools.build_bfcl_corpus import full_rows

CORPUS = REPO / "tests" / "data" / "bfcl" / "conformance.jsonl.gz"


def build_cases(data_dir: Path) -> list[dict]:
    import gzip

    rows = []
    for category in SINGLE_TURN_CATEGORIES:
        if is_irrelevance(category):
            continue
        for entry in load_category(data_dir, category):
            text = render_text(ground_truth_calls(entry.ground_truth), entry.functions, language_of(category))
            rows.append({"id": f"gt:{entry.id}", "category": category, "question": {"question": entry.question, "function": entry.functions},
                         "possible_answer": entry.ground_truth, "model_output_text": text})
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        corpus = [json.loads(line) for line in handle]
    corpus = [{k: v for k, v in case.items() if k not in ("valid", "error_type", "kind")} for case in corpus]
    return rows + full_rows(corpus, data_dir)


def timed(command: list) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def verdicts(path: Path) -> list[tuple]:
    return [(row["valid"], row["error_type"]) for row in map(json.loads, path.read_text().splitlines())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "bfcl" / "data")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--report", type=Path, default=Path(__file__).with_suffix(".txt"))
    args = parser.parse_args()
    official_python = ensure_venv()
    # Both sides run from compiled bytecode, as installed packages do (pip compiled bfcl-eval's);
    # with PYTHONDONTWRITEBYTECODE set, funcall's edited modules would be recompiled on every run.
    subprocess.run([sys.executable, "-m", "compileall", "-q", REPO / "funcall"], check=True, capture_output=True)
    with tempfile.TemporaryDirectory() as tmp:
        cases_path = Path(tmp) / "cases.jsonl"
        cases = build_cases(args.data_dir)
        cases_path.write_text("".join(json.dumps(case) + "\n" for case in cases))
        outputs = {name: Path(tmp) / f"{name}.jsonl" for name in ("ours", "ours_jobs2", "ours_auto", "official")}
        commands = {
            "ours": [sys.executable, "-m", "funcall.bfcl", "check", "--input", cases_path, "--output", outputs["ours"], "--jobs", "1"],
            "ours_jobs2": [sys.executable, "-m", "funcall.bfcl", "check", "--input", cases_path, "--output", outputs["ours_jobs2"], "--jobs", "2"],
            "ours_auto": [sys.executable, "-m", "funcall.bfcl", "check", "--input", cases_path, "--output", outputs["ours_auto"]],
            "official": [official_python, Path(__file__).with_name("bfcl_official.py"), cases_path, outputs["official"]],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        load_before = os.getloadavg()
        for _ in range(args.repeats):
            for name, command in commands.items():
                times[name].append(timed(command))
        load_after = os.getloadavg()
        ours, official = verdicts(outputs["ours"]), verdicts(outputs["official"])
        agree = sum(a == b for a, b in zip(ours, official))
    lines = [
        f"$ .venv/bin/python experiments/benchmarks/checker_speed.py --repeats {args.repeats}",
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S')}  python: {platform.python_version()}  cores: {os.cpu_count()}",
        f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f} (other processes share the cores)",
        f"cases: {len(cases)} rows; verdicts agreeing with the official checker: {agree}/{len(official)} (ours has {len(ours)} rows)",
        "",
        f"{'checker (whole process)':34s} {'median s':>9s} {'best s':>8s}   all runs",
    ]
    for name, label in (("official", "official bfcl-eval 2026.3.23"), ("ours", "funcall.bfcl check --jobs 1"),
                        ("ours_jobs2", "funcall.bfcl check --jobs 2"), ("ours_auto", "funcall.bfcl check (--jobs auto)")):
        runs = times[name]
        lines.append(f"{label:34s} {statistics.median(runs):9.3f} {min(runs):8.3f}   " + " ".join(f"{t:.3f}" for t in runs))
    lines += [
        "",
        f"ratio official / ours (median, --jobs 1): {statistics.median(times['official']) / statistics.median(times['ours']):.2f}",
        f"ratio official / ours (median, --jobs 2): {statistics.median(times['official']) / statistics.median(times['ours_jobs2']):.2f}",
        f"ratio official / ours (median, default --jobs auto): {statistics.median(times['official']) / statistics.median(times['ours_auto']):.2f}",
    ]
    report = "\n".join(lines) + "\n"
    print(report, end="")
    args.report.write_text(report)


if __name__ == "__main__":
    main()
