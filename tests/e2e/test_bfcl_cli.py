"""`python -m funcall.bfcl check` as a subprocess, and the import weight of funcall.bfcl."""

from __future__ import annotations

import json
import subprocess
import sys

FUNCTIONS = [{"name": "f", "description": "", "parameters": {"type": "dict", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}]


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "funcall.bfcl", *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False)


def row(**fields):
    base = {"category": "simple_python", "question": {"question": [[]], "function": FUNCTIONS}, "possible_answer": [{"f": {"a": [1]}}]}
    return json.dumps({**base, **fields})


def test_check_writes_one_verdict_per_row_in_order(tmp_path):
    lines = [
        row(case_id="good-text", model_output_text="[f(a=1)]"),
        row(id="good-decoded", model_output=[{"f": {"a": 1}}], model_output_text="garbage"),
        row(case_id="wrong", model_output_text="[f(a=2)]"),
        "{not json",
        row(case_id="no-output"),
        row(case_id="bad-category", category="multi_turn_base", model_output_text="[f(a=1)]"),
        json.dumps(
            {
                "id": "irrelevance",
                "category": "irrelevance",
                "question": {"function": FUNCTIONS},
                "possible_answer": None,
                "model_output_text": "I can't.",
            }
        ),
        row(case_id="java", category="simple_java", model_output_text="[f(a=1)]"),
        "",
        json.dumps([1, 2]),
    ]
    source, target = tmp_path / "in.jsonl", tmp_path / "out" / "verdicts.jsonl"
    source.write_text("\n".join(lines) + "\n")
    result = run("check", "--input", str(source), "--output", str(target))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == 9  # the blank line is skipped
    assert [(r.get("case_id") or r.get("id"), r["valid"], r["error_type"]) for r in rows] == [
        ("good-text", True, None),
        ("good-decoded", True, None),
        ("wrong", False, "value_error:others"),
        (None, False, "input_error:bad_json"),
        ("no-output", False, "input_error:missing_field"),
        ("bad-category", False, "input_error:unknown_category"),
        ("irrelevance", True, None),
        ("java", False, "ast_decoder:decoder_failed"),
        (None, False, "input_error:bad_row"),
    ]
    assert not list(target.parent.glob(".verdicts.jsonl.*"))  # no temporary file left behind


def test_missing_input_file_is_a_one_line_error_with_exit_code_2(tmp_path):
    result = run("check", "--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "out.jsonl"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "missing.jsonl" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_help():
    result = run("--help")
    assert result.returncode == 0 and "check" in result.stdout
    result = run("check", "--help")
    assert result.returncode == 0 and "--input" in result.stdout and "model_output_text" in result.stdout


def test_importing_funcall_bfcl_loads_no_heavy_library():
    code = (
        "import funcall.bfcl, funcall.bfcl.decode, funcall.bfcl.__main__, funcall.calls, funcall.rewards, sys; "
        "heavy = {'torch', 'transformers', 'numpy'} & set(sys.modules); assert not heavy, heavy"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, check=False).returncode == 0


def test_worker_processes_give_the_same_output(tmp_path):
    lines = [row(case_id=f"c{i}", model_output_text=f"[f(a={i % 3})]") for i in range(2100)]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    outputs = []
    for jobs in ("1", "2"):
        target = tmp_path / f"out{jobs}.jsonl"
        assert run("check", "--input", str(source), "--output", str(target), "--jobs", jobs).returncode == 0
        outputs.append(target.read_text())
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == 2100
    assert run("check", "--input", str(source), "--output", str(tmp_path / "x"), "--jobs", "zero").returncode == 2
