"""What a run sends to W&B, read back from the offline run's ``.wandb`` transaction log.

The log is read with the reader the ``wandb`` package ships (``wandb leet inspect --json``, the
transaction-log inspector of wandb-core: one JSON object per record), not a parser of our own.
Checked against the run's own files: the config record holds ``choices`` (the options picked),
every ``metrics.jsonl`` value is in the history record of the same step, and every table in
``tables/*.jsonl`` is in W&B at the same step, as a table file with the same rows.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import REPO, read_metrics, run_train

SFT = ["+experiment=sft", "loss=srml", "trainer.max_steps=4", "trainer.eval_every=2", "trainer.eval_size=4",
       "trainer.eval_max_new_tokens=8", "trainer.micro_batch_size=4", "logger=wandb"]
RL = ["+experiment=grpo", "advantage=dr_grpo", "reward=partial", "trainer.max_steps=3", "trainer.prompts_per_step=4",
      "rollout.num_generations=4", "rollout.max_new_tokens=16", "trainer.micro_batch_size=8", "trainer.eval_size=4",
      "trainer.eval_max_new_tokens=8", "trainer.eval_every=2", "trainer.table_every=1", "trainer.warm_start=null",
      "logger=wandb"]
CHOICES = {"sft": {"loss": "srml", "advantage": "grpo", "reward": "ast_match", "experiment": "sft"},
           "rl": {"loss": "policy", "advantage": "dr_grpo", "reward": "partial", "experiment": "grpo"}}


def read_transaction_log(run_dir: Path) -> tuple[Path, list[dict]]:
    """(the offline run folder, its records) via the wandb package's own transaction-log reader."""
    logs = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(logs) == 1, logs
    proc = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(logs[0])], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=True)
    return logs[0].parent, [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module", params=["sft", "rl"])
def run(request, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp(request.param) / "run"
    run_train(SFT if request.param == "sft" else RL, run_dir, env={"WANDB_MODE": "offline"})
    folder, records = read_transaction_log(run_dir)
    return request.param, run_dir, folder, records


def history_by_step(records: list[dict]) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for r in records:
        if r["type"] == "history":
            step = r["history"].get("step", {}).get("num", 0)
            assert step not in out, f"two history records for step {step}"
            out[step] = r["history"]["item"]
    return out


def same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def test_the_config_record_holds_the_choices(run):
    kind, run_dir, _, records = run
    configs = [r["run"]["config"]["update"] for r in records if r["type"] == "run"]
    assert configs, "no run record"
    config = configs[0]
    assert {k: config["choices"].get(k) for k in CHOICES[kind]} == CHOICES[kind]
    assert config["loss"]["_target_"].rsplit(".", 2)[-2] == CHOICES[kind]["loss"]  # the group's content, not just its name


def test_every_metric_is_in_the_history_at_its_step(run):
    _, run_dir, _, records = run
    history = history_by_step(records)
    rows = read_metrics(run_dir)
    assert sorted(history) == sorted({r["step"] for r in rows})
    missing = [(r["step"], k, v, history[r["step"]].get(k)) for r in rows for k, v in r.items()
               if k != "step" and v is not None and not same(history[r["step"]].get(k), v)]
    assert not missing, missing[:10]
    assert all(history[s]["_step"] == s for s in history)


def test_tables_are_logged_as_table_files_with_the_same_rows(run):
    kind, run_dir, folder, records = run
    history = history_by_step(records)
    files = {f["path"] for r in records if r["type"] == "files" for f in r["files"]["files"]}
    expected = {"eval/samples"} | ({"rollout/samples"} if kind == "rl" else set())
    assert {p.stem for p in (run_dir / "tables").glob("*.jsonl")} == {k.replace("/", "_") for k in expected}
    for key in expected:
        by_step = defaultdict(list)
        for line in (run_dir / "tables" / f"{key.replace('/', '_')}.jsonl").read_text().splitlines():
            row = json.loads(line)
            by_step[row.pop("step")].append(row)
        assert [s for s in sorted(history) if f"{key}._type" in history[s]] == sorted(by_step)
        for step, rows in by_step.items():
            item = history[step]
            assert item[f"{key}._type"] == "table-file" and item[f"{key}.nrows"] == len(rows)
            path = item[f"{key}.path"]
            assert path in files and (folder / "files" / path).is_file()
            table = json.loads((folder / "files" / path).read_text())
            assert table["columns"] == list(rows[0])
            assert all(same(a, b) for got, want in zip(table["data"], rows, strict=True)
                       for a, b in zip(got, want.values(), strict=True))
    if kind == "rl":
        assert len([s for s in history if "rollout/samples._type" in history[s]]) == 3  # table_every=1


def test_the_summary_is_the_run_summary(run):
    _, run_dir, _, records = run
    summary: dict = {}
    for r in records:
        if r["type"] == "summary":
            summary.update(r["summary"].get("update", {}))
    ours = json.loads((run_dir / "summary.json").read_text())
    wrong = {k: (v, summary.get(k)) for k, v in ours.items() if v is not None and not same(summary.get(k), v)}
    assert not wrong, wrong
    assert any(r["type"] == "exit" and r["exit"].get("exit_code", 0) == 0 for r in records)
