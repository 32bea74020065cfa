"""The multi-turn checker: each rule of BFCL's release pinned on a small case, the whole against the
official checker's labels, hostile output executing nothing, and the check-multi-turn CLI."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import REPO
from funcall.bfcl.multi_turn import check_multi_turn, decoded_steps
from funcall.envs.bfcl_data import MULTI_TURN_CATEGORIES, installed_bfcl_data, load_multi_turn
from funcall.envs.bfcl_env import BFCLEnvironment
from funcall.envs.worker import EnvPool

DATA = installed_bfcl_data()
CORPUS = REPO / "tests" / "data" / "bfcl" / "multi_turn_conformance.jsonl.gz"


@pytest.fixture(scope="module")
def everything() -> dict[str, tuple[dict, list]]:
    return {e["id"]: (e, gt) for c in MULTI_TURN_CATEGORIES for e, gt in load_multi_turn(DATA, c)}


def check(entry_id: str, output, everything) -> dict:
    entry, truth = everything[entry_id]
    return check_multi_turn(entry, truth, output, BFCLEnvironment)


def replay(truth: list[list[str]]) -> list:
    return [[list(turn)] if turn else [] for turn in truth]


# base_1: [["ls(a=True)"], ["cd(folder='workspace')", "mv(source='log.txt',destination='archive')"],
#          ["cd(folder='archive')", "grep(file_name='log.txt',pattern='Error')"], ["tail(file_name='log.txt',lines=20)"]]
B1 = "multi_turn_base_1"


def test_not_a_list_and_a_wrong_number_of_turns(everything):
    assert check(B1, {"turns": []}, everything)["error_type"] == "multi_turn:inference_error"
    truth = everything[B1][1]
    assert check(B1, replay(truth)[:-1], everything)["error_type"] == "multi_turn:force_terminated"
    assert check(B1, replay(truth) + [[]], everything)["error_type"] == "multi_turn:force_terminated"


def test_empty_and_undecodable_steps_are_dropped(everything):
    truth = everything[B1][1]
    noisy = [[[], [""], "not a step", [3], *steps] for steps in replay(truth)]
    assert decoded_steps(noisy[0]) == [truth[0]]
    assert check(B1, noisy, everything)["valid"]
    assert check(B1, [[[c] for c in turn] for turn in truth], everything)["valid"]  # one call per step is as good


def test_a_turn_without_steps_fails_when_its_ground_truth_has_calls(everything):
    output = replay(everything[B1][1])
    output[2] = [[], [""]]
    v = check(B1, output, everything)
    assert v["error_type"] == "multi_turn:empty_turn_model_response" and "turn 2" in v["error_message"]


def test_state_is_compared_after_every_checked_turn(everything):
    output = replay(everything[B1][1])
    output[1] = [["cd(folder='workspace')"]]  # the file is never moved
    v = check(B1, output, everything)
    assert v["error_type"] == "multi_turn:instance_state_mismatch" and v["differences"] == {"GorillaFileSystem": ["root"]}


def test_results_must_cover_the_ground_truth_counting_earlier_turns(everything):
    output = replay(everything[B1][1])
    output[0] = [["pwd()"]]  # the same state, a different result
    assert check(B1, output, everything)["error_type"] == "multi_turn:execution_response_mismatch"
    output = replay(everything[B1][1])
    output[0] = [["ls(a=True)", "pwd()"]]  # extra results are fine
    assert check(B1, output, everything)["valid"]
    # a result the model produced in an earlier turn satisfies a later turn's ground truth
    output = replay(everything[B1][1])
    output[2] = [["cd(folder='archive')", "grep(file_name='log.txt',pattern='Error')", "tail(file_name='log.txt',lines=20)"]]
    output[3] = [["pwd()"]]
    assert check(B1, output, everything)["valid"]


def test_failed_calls_are_results_and_a_turn_with_empty_ground_truth_is_not_checked(everything):
    miss = next(i for i, (e, gt) in everything.items() if i.startswith("multi_turn_miss_param")
                and "GorillaFileSystem" in e["involved_classes"] and [] in gt[:-1])
    entry, truth = everything[miss]
    empty = truth.index([])
    output = replay(truth)
    output[empty] = [["this_is_not_a_tool(x=1)", "pwd()"]]  # runs (an error result and a pwd) but is never judged
    assert check(miss, output, everything)["valid"]
    output = replay(truth)
    output[empty] = [["mkdir(dir_name='made_when_it_should_not')"]]  # not judged there, but the state differs after
    v = check(miss, output, everything)
    assert v["error_type"] == "multi_turn:instance_state_mismatch" and str(empty) not in v["error_message"].split()[-1]


def test_every_ground_truth_replayed_passes(everything):
    failures = [i for i, (e, gt) in everything.items() if not check_multi_turn(e, gt, replay(gt), BFCLEnvironment)["valid"]]
    assert len(everything) == 800 and failures == []


def test_verdicts_agree_with_the_official_checker_on_every_labelled_trajectory(everything):
    with gzip.open(CORPUS, "rt") as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) >= 2000 and {r["kind"] for r in rows} >= {"drop_call", "duplicate_call", "swap_calls",
                                                               "change_argument", "call_in_empty_turn", "unknown_function",
                                                               "cut_short", "empty_turn"}
    disagreements = []
    with EnvPool(timeout_s=10) as pool:  # as the CLI runs it: the environments in their own process
        for row in rows:
            entry, truth = everything[row["id"]]
            v = check_multi_turn(entry, truth, row["model_output"], pool.open)
            if (v["valid"], v["error_type"]) != (row["valid"], row["error_type"]):
                disagreements.append((row["id"], row["kind"], row["error_type"], v["error_type"]))
    assert disagreements == []
    assert sum(r["valid"] for r in rows) < len(rows) - 500  # the corpus is not mostly valid replays


HOSTILE = [
    "__import__('os').system('touch {s}')", "open('{s}', 'w').write('x')", "exec(\"open('{s}', 'w')\")",
    "eval(\"__import__('os').system('touch {s}')\")", "cd(folder=__import__('os').getcwd())", "x.__class__",
    "().__class__.__bases__[0].__subclasses__()", "cd.__globals__['os'].system('touch {s}')", "_load_scenario({{}})",
    "ls.__self__._load_scenario({{}})", "globals()", "breakpoint()", "exit()", "quit()", "kill(pid=1)",
    "cd(folder=lambda: open('{s}', 'w'))", "ls(a=[i for i in range(10**9)])", "mv(source=f'{{1}}', destination='x')",
    "touch(file_name='" + "z" * 2_000_000 + "')", "[" * 100_000, "(" * 50_000 + ")" * 50_000, "rm -rf /", "",
]


def hostile_outputs(truth: list[list[str]], n: int, sentinel) -> list:
    out = []
    for k in range(n):
        text = HOSTILE[k % len(HOSTILE)].format(s=sentinel)
        turns = [[[text] * (1 + k % 3)] if calls else [] for calls in truth]
        out.append(turns)
    return out


def test_hostile_output_executes_nothing_and_a_thousand_check_in_a_minute(tmp_path, monkeypatch, everything):
    monkeypatch.chdir(tmp_path)
    sentinel = tmp_path / "pwned"
    entry, truth = everything[B1]
    outputs = hostile_outputs(truth, 1000, sentinel)
    started = time.time()
    with EnvPool(timeout_s=10) as pool:
        verdicts = [check_multi_turn(entry, truth, o, pool.open) for o in outputs]
        assert pool.restarts == 0
    assert time.time() - started < 60
    assert not any(v["valid"] for v in verdicts) and not sentinel.exists() and not list(tmp_path.iterdir())


def run_cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "funcall.bfcl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_the_cli_writes_one_verdict_per_row_in_order(tmp_path, everything):
    entry, truth = everything[B1]
    rows = [{"id": B1, "model_output": replay(truth)}, {"id": B1, "model_output": replay(truth)[:1]},
            {"id": "multi_turn_base_1", "model_output": [[["cd(folder=__import__('os').getcwd())"]], [], [], []]},
            {"id": "no_such_entry_3", "model_output": []}, {"id": B1},
            {"id": "own", "entry": entry, "ground_truth": truth, "model_output": replay(truth)}]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    proc = run_cli(["check-multi-turn", "--input", str(source), "--output", str(tmp_path / "out.jsonl")], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["id"], r["valid"], r["error_type"]) for r in out] == [
        (B1, True, None), (B1, False, "multi_turn:force_terminated"),
        (B1, False, "multi_turn:execution_response_mismatch"), ("no_such_entry_3", False, "input_error:unknown_id"),
        (B1, False, "input_error:missing_field"), ("own", True, None), (None, False, "input_error:bad_json")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]  # no result/ or score/ folders
    missing = run_cli(["check-multi-turn", "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o.jsonl")],
                      tmp_path)
    assert missing.returncode == 2 and "cannot read input file" in missing.stderr
