"""Verified checkpoints and W&B after a resume, on real runs of the tiny default.

A checkpoint tag is trusted only when every file matches its ``manifest.json`` (written last):
a resumed run takes the newest intact tag and says which ones it skipped and why, and with none
intact it stops with one line. A resumed W&B run keeps its id and its newest offline folder
holds every step of ``metrics.jsonl``; a fresh run draws a new id. The manifest check itself is
tested on folders of files written here.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, read_metrics, run_train
from funcall.trainers.checkpoint import prune
from funcall.trainers.checkpoint_manifest import MANIFEST, describe, tag_files, verify_tag, write_manifest

SFT = ["+experiment=sft", "trainer.max_steps=4", "trainer.save_every=1", "trainer.keep_checkpoints=3",
       "trainer.eval_size=4", "trainer.eval_max_new_tokens=8", "trainer.micro_batch_size=4"]
MODEL_STATES = "mp_rank_00_model_states.pt"


def final_loss(run_dir: Path) -> float:
    return [r for r in read_metrics(run_dir) if "loss" in r][-1]["loss"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, float]:
    """A whole 4-step run saving every step (tags 2, 3, 4 kept), and its final loss."""
    run = tmp_path_factory.mktemp("finished") / "run"
    run_train([*SFT, "logger=none"], run)
    return run, final_loss(run)


def copy_run(finished: Path, to: Path) -> Path:
    shutil.copytree(finished, to)
    return to


def truncate(path: Path, keep: int = 1000) -> None:
    with open(path, "r+b") as f:
        f.truncate(keep)


def test_every_kept_tag_has_a_manifest_of_its_files(finished):
    run, _ = finished
    tags = sorted(p.name for p in (run / "checkpoints").glob("step_*"))
    assert tags == ["step_00000002", "step_00000003", "step_00000004"]  # keep=3
    for tag in tags:
        files = json.loads((run / "checkpoints" / tag / MANIFEST).read_text())["files"]
        assert sorted(files) == tag_files(run / "checkpoints" / tag) and MODEL_STATES in files
        assert verify_tag(run / "checkpoints" / tag, tag) is None


def test_a_truncated_newest_checkpoint_resumes_from_the_previous_one(finished, tmp_path):
    run = copy_run(finished[0], tmp_path / "run")
    truncate(run / "checkpoints" / "step_00000004" / MODEL_STATES)
    proc = run_train([*SFT, "logger=none", "trainer.resume=true"], run)
    said = proc.stdout + proc.stderr
    assert f"checkpoints/step_00000004/{MODEL_STATES}: 1000 bytes, manifest says" in said, said[-3000:]
    assert "resuming from checkpoints/step_00000003 (step 3)" in said, said[-3000:]
    rows = [r for r in read_metrics(run) if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["loss"] == finished[1]
    assert verify_tag(run / "checkpoints" / "step_00000004", "step_00000004") is None  # saved again, whole


def test_no_intact_checkpoint_stops_with_one_line(finished, tmp_path):
    run = copy_run(finished[0], tmp_path / "run")
    for tag in ("step_00000002", "step_00000003", "step_00000004"):
        truncate(run / "checkpoints" / tag / MODEL_STATES)
    metrics = (run / "metrics.jsonl").read_text()
    proc = run_train([*SFT, "logger=none", "trainer.resume=true"], run, check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert f"checkpoints/step_00000004/{MODEL_STATES}: 1000 bytes" in errors[0]
    assert str(run) in errors[0] and "trainer.resume" in errors[0]
    assert (run / "metrics.jsonl").read_text() == metrics  # nothing touched


def test_checkpoints_without_manifests_resume_from_latest_with_a_warning(finished, tmp_path):
    run = copy_run(finished[0], tmp_path / "run")
    for manifest in (run / "checkpoints").glob(f"step_*/{MANIFEST}"):
        manifest.unlink()  # as saved before manifests existed
    proc = run_train([*SFT, "logger=none", "trainer.resume=true"], run)
    assert "checkpoints/step_00000004: resuming from DeepSpeed's latest without verifying it" in proc.stderr
    assert (run / "checkpoints" / "step_00000004" / MANIFEST).exists()  # saved again at the end, with one

    truncate(run / "checkpoints" / "step_00000004" / MODEL_STATES)
    (run / "checkpoints" / "step_00000004" / MANIFEST).unlink()
    proc = run_train([*SFT, "logger=none", "trainer.resume=true"], run, check=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(errors) == 1, proc.stderr[-3000:]
    assert "checkpoints/step_00000004" in errors[0] and "does not load" in errors[0]


@pytest.mark.slow  # 22-70 s on 2 cores; the one-rank fall-back test is in make test
@pytest.mark.distributed
def test_two_ranks_skip_a_damaged_shard_together(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "funcall.train", "+experiment=sft", "deepspeed=zero2", "trainer.max_steps=3", "trainer.save_every=1",
           "trainer.micro_batch_size=4", "trainer.eval_size=4", "trainer.eval_max_new_tokens=8", "logger=none",
           f"hydra.run.dir={run}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert whole.returncode == 0, whole.stderr[-4000:]
    loss = final_loss(run)
    [shard] = (run / "checkpoints" / "step_00000003").glob("*rank_1*optim_states.pt")  # rank 1's ZeRO shard
    with open(shard, "r+b") as f:
        f.seek(shard.stat().st_size // 2)
        f.write(b"garbage!")  # same size: only the sha256 tells
    resumed = subprocess.run([*cmd, "trainer.resume=true"], cwd=REPO, capture_output=True, text=True, timeout=600,
                             env=env)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    said = resumed.stdout + resumed.stderr
    assert f"checkpoints/step_00000003/{shard.name}: sha256 differs" in said, said[-3000:]
    assert "resuming from checkpoints/step_00000002 (step 2)" in said
    assert final_loss(run) == loss


def read_history(offline_run: Path) -> dict[int, dict]:
    """Step -> history item of an offline W&B run folder, via wandb's own reader (as
    tests/e2e/test_wandb_readback.py reads it)."""
    [log] = offline_run.glob("run-*.wandb")
    proc = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(log)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=True)
    history: dict[int, dict] = {}
    for record in (json.loads(line) for line in proc.stdout.splitlines() if line.strip()):
        if record["type"] == "history":
            step = record["history"].get("step", {}).get("num", 0)
            assert step not in history, f"two history records for step {step}"
            history[step] = record["history"]["item"]
    return history


@pytest.mark.slow  # make test-full: keeps `make test` under 20 min on 2 cores (16 s; make test keeps the killed-run resume of tests/e2e/test_train_sft.py)
def test_a_killed_wandb_run_resumes_with_its_id_and_its_whole_history(tmp_path):
    run, wandb_env = tmp_path / "run", {**os.environ, "WANDB_MODE": "offline"}
    args = [*SFT, "trainer.eval_every=2", "logger=wandb"]
    proc = subprocess.Popen([sys.executable, "-m", "funcall.train", *args, f"hydra.run.dir={run}"], cwd=REPO,
                            env=wandb_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = run / "checkpoints" / "step_00000003" / MANIFEST  # after the evaluation of step 2
    deadline = time.time() + 300
    while time.time() < deadline and not manifest.exists() and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert manifest.exists() and not (run / "summary.json").exists()
    run_id = (run / "wandb_run_id").read_text().strip()

    run_train([*args, "trainer.resume=true"], run, env={"WANDB_MODE": "offline"})
    assert (run / "wandb_run_id").read_text().strip() == run_id
    folders = sorted((run / "wandb").glob("offline-run-*"))
    assert len(folders) == 2 and all(f.name.endswith(run_id) for f in folders)
    history, rows = read_history(folders[-1]), read_metrics(run)
    assert sorted(history) == sorted({r["step"] for r in rows}) and {1, 2, 3, 4} <= set(history)
    wrong = [(r["step"], k) for r in rows for k, v in r.items()
             if k != "step" and v is not None and history[r["step"]].get(k) != pytest.approx(v)]
    assert not wrong, wrong
    assert "eval/samples._type" in history[2]  # the table logged before the kill, sent again


def test_a_fresh_run_draws_a_new_wandb_id_and_a_resumed_one_keeps_it(tmp_path):
    from funcall.logging.run_log import RunLog
    from funcall.logging.wandb_logger import WandbLogger

    def start(run_dir: Path, resume_step: int | None) -> str:
        log = RunLog(run_dir, True, WandbLogger(mode="offline"))
        log.start({}, resume_step)
        run_id = log.wandb.run.id
        log.close()
        assert (run_dir / "wandb_run_id").read_text().strip() == run_id
        return run_id

    first = start(tmp_path / "a", None)
    assert start(tmp_path / "a", 0) == first  # resumed: the stored id
    assert start(tmp_path / "b", None) != first  # another folder
    assert start(tmp_path / "a", None) != first  # a fresh run in the same folder too


@pytest.fixture
def tag(tmp_path) -> Path:
    """A tag folder of a few files (one in a subfolder) with its manifest."""
    tag = tmp_path / "checkpoints" / "step_00000007"
    (tag / "zero").mkdir(parents=True)
    for i, name in enumerate(["a.pt", "b.pt", "c.pt", "zero/d.pt"]):
        (tag / name).write_bytes(bytes([i]) * (100 + i))
    write_manifest(tag, describe(tag, tag_files(tag)))
    return tag


def test_a_manifest_holds_every_file_and_verifies(tag):
    files = json.loads((tag / MANIFEST).read_text())["files"]
    assert sorted(files) == ["a.pt", "b.pt", "c.pt", "zero/d.pt"] and files["b.pt"]["size"] == 101
    assert verify_tag(tag, "t") is None
    assert [verify_tag(tag, "t", rank, 3) for rank in range(3)] == [None] * 3
    (tag / "extra.pt").write_bytes(b"x")  # written after the manifest: not its business
    assert verify_tag(tag, "t") is None


@pytest.mark.parametrize("damage, reason", [
    (lambda tag: truncate(tag / "b.pt", 50), "t/b.pt: 50 bytes, manifest says 101"),
    (lambda tag: (tag / "c.pt").write_bytes(b"\xff" * 102), "t/c.pt: sha256 differs from the manifest's"),
    (lambda tag: (tag / "zero" / "d.pt").unlink(), "t/zero/d.pt: missing, manifest lists it"),
    (lambda tag: (tag / MANIFEST).unlink(), "t: no manifest (incomplete save)"),
    (lambda tag: (tag / MANIFEST).write_text("{\"files\": "), "t/manifest.json: unreadable"),
])
def test_a_damaged_tag_is_named_with_its_file(tag, damage, reason):
    damage(tag)
    problems = [verify_tag(tag, "t", rank, 2) for rank in range(2)]  # each rank checks its share
    assert any(p and p.startswith(reason) for p in problems), problems


def test_pruning_deletes_only_older_tags(tmp_path):
    for step in range(1, 7):
        (tmp_path / "checkpoints" / f"step_{step:08d}").mkdir(parents=True)
    prune(tmp_path, "step_00000004", keep=2)  # resumed from 3 past corrupt 5 and 6, then saved 4
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "step_00000003", "step_00000004", "step_00000005", "step_00000006"]
