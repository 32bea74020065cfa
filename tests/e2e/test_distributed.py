"""Two ranks under torchrun (gloo on the CPU), ZeRO-3: world size, data split, sharding, RL."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, read_metrics
from funcall.data.sampler import GlobalSampler
from funcall.data.synthetic import SyntheticTask


def torchrun(args: list[str], run_dir, timeout=900) -> dict:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "funcall.train", *args, f"hydra.run.dir={run_dir}", "logger=none"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((run_dir / "summary.json").read_text())


def test_zero3_sft_on_two_ranks_splits_data_and_shards_parameters(tmp_path, tiny_model_dir):
    micro, accum = 4, 2
    s = torchrun(["+experiment=sft", "deepspeed=zero3", "trainer.max_steps=3", f"trainer.micro_batch_size={micro}",
                  f"trainer.grad_accum={accum}", "trainer.eval_size=8", "trainer.eval_max_new_tokens=16",
                  # output-layer chunks of 50 targets: the ranks' micro-batches have different target counts,
                  # so different chunk counts, which ZeRO-3's collective gathers must not notice
                  "trainer.logit_chunk=50",
                  # shard even the small matrices of the tiny model, so "half each" is visible
                  "deepspeed.zero_optimization.stage3_param_persistence_threshold=0"], tmp_path)
    assert s["world_size"] == 2 and s["zero_stage"] == 3 and s["steps"] == 3
    # data: each rank trained on its own slice of the global batch, together the whole batch
    ids = s["first_step_ids_per_rank"]
    sampler, train = GlobalSampler(1_000_000, seed=0), SyntheticTask(seed=0).train()
    for rank in range(2):
        expected = [train[i].id for m in range(accum) for i in sampler.micro_batch(0, m, rank, 2, micro, accum)]
        assert ids[rank] == expected
    assert not set(ids[0]) & set(ids[1])
    # parameters: each rank holds about half
    from transformers import AutoModelForCausalLM

    total = AutoModelForCausalLM.from_pretrained(tiny_model_dir).num_parameters()
    for held in s["params_per_rank"]:
        assert 0.45 * total <= held <= 0.55 * total, (held, total)
    assert (tmp_path / "hf_model" / "config.json").exists()  # the export gathered the shards
    assert not list(tmp_path.glob("*.rank1*"))  # only rank 0 writes the run dir
    rows = [r for r in read_metrics(tmp_path) if "loss" in r]
    assert [r["tokens/step"] > 0 for r in rows] == [True] * 3


# gather=false (synced_gpus generation on the sharded weights) runs in make test-full
@pytest.mark.parametrize("gather", ["true", pytest.param("false", marks=pytest.mark.slow)])
def test_entropy_grpo_on_two_ranks_with_zero3_from_a_policy_that_stops(tmp_path, stopping_policy, gather):
    # The entropy_grpo preset's own shape (8 prompts x 8 samples, 160 new tokens, micro-batches
    # of 16) from a trained policy whose completions end at EOS at different lengths, so the two
    # ranks run different numbers of generation forwards (before the fix: a hang in step 1).
    s = torchrun(["+experiment=entropy_grpo", "deepspeed=zero3", "trainer.max_steps=2", *stopping_policy,
                  f"rollout.engine.gather={gather}", "trainer.eval_size=16", "trainer.eval_max_new_tokens=64",
                  "trainer.logit_chunk=100"],  # micro-batches of different widths: different chunk counts per rank
                 tmp_path, timeout=600)
    assert s["world_size"] == 2 and s["zero_stage"] == 3 and s["steps"] == 2
    rows = read_metrics(tmp_path)
    steps = [r for r in rows if "reward/mean" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for key in ("kl", "entropy/think", "adv/entropy_bonus_mean", "time/rollout_s", "tokens/completion_mean", "grad_norm"):
        assert key in steps[-1]
    # the policy stops: most completions end before the budget, at lengths that vary
    assert all(r["completion/clipped_frac"] < 0.5 and r["completion/length_mean"] < 120 for r in steps)
    # the longest completion and prompt are the largest rank's (ranks see different prompts), within the budgets
    assert all(r["completion/length_mean"] < r["completion/length_max"] <= 160 for r in steps)
    assert all(r["tokens/prompt_mean"] < r["tokens/prompt_max"] <= 512 and r["tokens/prompt_max"] == int(r["tokens/prompt_max"])
               for r in steps)
    evals = [r["step"] for r in rows if "eval/ast_accuracy" in r]
    assert evals == [0, 2]
