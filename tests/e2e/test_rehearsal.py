"""The rehearsal at Qwen2.5-0.5B size (experiments/benchmarks/rehearsal_0_5b.py --quick), end to end.

One run of the program (about 11 minutes on 2 cores; ~22 GB of RAM at its peak and ~23 GB of disk
while it runs, removed afterwards; queued behind other heavy runs by ``/tmp/funcall-heavy.lock``):
SFT, GRPO with colocated vLLM, a SIGKILL after step 1's checkpoint and a resume, the HF export.
The assertions read the program's JSON: what it measured, not what it printed.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

PROGRAM = REPO / "experiments" / "benchmarks" / "rehearsal_0_5b.py"
SFT_PHASES = {"setup", "step", "eval", "export"}
RL_PHASES = {"setup", "rollout", "logprob", "update", "eval", "checkpoint", "export"}


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rehearsal")
    out = tmp / "rehearsal.json"
    proc = subprocess.run([sys.executable, str(PROGRAM), "--quick", "--work", str(tmp / "work"), "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=5400)
    try:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        yield json.loads(out.read_text()), proc.stdout
    finally:  # ~23 GB of checkpoints and exports; pytest keeps its last three temporary folders
        shutil.rmtree(tmp / "work", ignore_errors=True)


@pytest.mark.slow
def test_every_training_finishes_and_the_killed_one_was_killed(rehearsal):
    results, _ = rehearsal
    runs = results["runs"]
    assert [runs[name]["steps"] for name in ("sft", "grpo_vllm", "grpo_a", "grpo_b_resume")] == [2, 1, 2, 2]
    assert runs["grpo_b"]["killed_at_s"] is not None and runs["grpo_b"]["returncode"] != 0
    assert runs["grpo_b"]["checkpoint_bytes"] > 5 * 10**9  # params + 2 Adam moments of 494M fp32 parameters


@pytest.mark.slow
def test_the_resumed_step_equals_the_uninterrupted_one(rehearsal):
    resume = rehearsal[0]["resume"]
    assert resume["resumed_steps"] == [1, 2]  # step 1 logged before the kill, step 2 after the resume, none twice
    # random weights earn no reward (the loss is 0 at both steps; the runs have no KL term, so no
    # `kl`): the answer tokens' entropy and the generation-vs-trainer log-prob gap are what differ when other tokens
    # are sampled
    assert {"loss", "reward/mean", "entropy/answer", "logprob/gen_vs_train_abs"} <= set(resume["keys"])
    assert resume["equal"], resume["keys"]


@pytest.mark.slow
def test_the_export_loads_with_the_model_size_and_zero3_halves_it(rehearsal):
    runs = rehearsal[0]["runs"]
    total = runs["sft"]["export_params"]
    assert 494e6 <= total < 495e6
    for name in ("sft", "grpo_vllm", "grpo_a", "grpo_b_resume"):
        for held in runs[name]["params_per_rank"]:
            # half the model, plus the parameters small enough to stay whole on every rank
            assert total / 2 <= held <= total / 2 + total * 0.01, (name, held)


@pytest.mark.slow
def test_every_rank_reports_every_phase(rehearsal):
    results, printed = rehearsal
    runs = results["runs"]
    # grpo_a saves nothing (the program's comment says why); the resumed run checkpoints its step 2
    for name, phases in (("sft", SFT_PHASES), ("grpo_vllm", RL_PHASES), ("grpo_a", RL_PHASES - {"checkpoint"}),
                         ("grpo_b_resume", RL_PHASES)):
        peaks = runs[name]["memory_peak_gb_per_rank"]
        assert len(peaks) == 2
        for rank_peaks in peaks:
            assert phases <= set(rank_peaks), (name, sorted(rank_peaks))
            assert all(gb > 0.5 for gb in rank_peaks.values())  # a whole process of torch and a 494M shard
    assert "Peak memory per rank and phase" in printed


@pytest.mark.slow
def test_the_plan_is_within_25_percent_of_every_planned_phase(rehearsal):
    """docs/plan.md's claim at this size: each phase the plan predicts (setup, step; rollout, logprob,
    update) within 25% of the larger rank's measured peak, in each of the four runs."""
    runs = rehearsal[0]["runs"]
    for name in ("sft", "grpo_vllm", "grpo_a", "grpo_b_resume"):
        planned, peaks = runs[name]["planned_gb"], runs[name]["memory_peak_gb_per_rank"]
        assert set(planned) == ({"setup", "step"} if name == "sft" else {"setup", "rollout", "logprob", "update"})
        for phase, gb in planned.items():
            measured = max(rank[phase] for rank in peaks)
            assert 0.75 <= gb / measured <= 1.25, (name, phase, gb, measured)
