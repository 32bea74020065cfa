"""``model=qwen3_small`` beyond test_qwen3_runs.py: RL with ``rollout=vllm`` (vLLM's CPU build) on
the real Qwen3 tokenizer and 151,936-row vocabulary, and multi-turn GRPO on BFCL's own multi-turn
data (the installed bfcl-eval package's files).

Short runs of a random-weight model: they prove the paths run end to end and log what they should,
not that anything is learnt. Every override list is a module-level constant. ``head_dim`` is 32
because vLLM's CPU attention kernels take head sizes 32, 64, 80, ... only: with 16 the engine's first
forward failed ("Unsupported CPU attention configuration: head_dim=16").
"""
from __future__ import annotations

import json
import math

import pytest

from conftest import read_metrics, run_train

VLLM_CPU = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind"}  # as tests/e2e/test_vllm.py
ENGINE = ["rollout.engine.kv_cache_memory_gib=1", "rollout.engine.max_model_len=1024"]

# test_qwen3_runs.py's SHORT_RL.
SHORT_RL = ["model=qwen3_small", "trainer.warm_start=null", "logger=none", "trainer.max_steps=2",
            "rollout.num_generations=2", "trainer.prompts_per_step=2", "trainer.micro_batch_size=4",
            "rollout.max_new_tokens=16", "trainer.eval_size=2", "trainer.eval_max_new_tokens=8"]

# trainer.table_every=1: the trainer's own pass over the sampled ids (hence the logged gap) on every
# step, not only where the entropy-guided advantage happens to need it.
VLLM_RL = ["+experiment=entropy_grpo", *SHORT_RL, "rollout=vllm", *ENGINE, "trainer.table_every=1"]

# Multi-turn GRPO on BFCL's multi-turn files: prompts are 4,000-6,500 Qwen3 tokens (the involved classes'
# JSON docs), so the budgets after the prompt are kept tiny: one 16-token step per turn, 128 ids per
# episode (enough for a user turn or two to be appended). The default rollout (HF generate).
MULTI_TURN_BFCL = ["+experiment=multi_turn_grpo", "data=bfcl_multi_turn", *SHORT_RL, "agent.max_steps_per_turn=1",
                   "agent.max_episode_tokens=128", "trainer.eval_at_start=false"]


@pytest.fixture(scope="module")
def bfcl_data_dir() -> str:
    from funcall.envs.bfcl_data import INSTALL_HINT, installed_bfcl_data

    folder = installed_bfcl_data()
    assert folder, f"no installed bfcl-eval data: {INSTALL_HINT}"
    return folder


# Measured (2 cores, this file alone): 45 s, most of it vLLM's engine start; make test keeps it.
@pytest.mark.slow  # make test-full: vLLM's CPU engine start and compile (~45 s on 2 cores)
def test_rl_with_rollout_vllm_on_qwen3_trains_on_vllms_ids(tmp_path):
    run = tmp_path / "run"
    run_train(VLLM_RL, run, env=VLLM_CPU, timeout=900)
    rows = [r for r in read_metrics(run) if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert math.isfinite(r["loss"]) and r["tokens/completion_mean"] > 0
        # vLLM's log-probs of the ids it sampled against the trainer's pass over the same ids. Measured
        # here: 1.9e-7 and 2.4e-7 (float32 noise: every log-prob is about -ln(151,936) = -11.9 on a
        # random-weight model, near-uniform over the vocabulary). The same model scores a sampled id
        # against its neighbour's position 0.08-0.11 apart on average and against another id 0.5-0.6
        # apart, so 1e-3 (test_vllm.py's bound) sits 4,000x above the noise and 80x below what a
        # shifted position, a wrong id or unsynced weights would give.
        assert r["logprob/gen_vs_train_abs"] < 1e-3
    assert json.loads((run / "summary.json").read_text())["steps"] == 2


# Measured (2 cores, this file alone): 43 s; make test keeps it.
@pytest.mark.slow  # make test-full: keeps `make test` under 20 min on 2 cores (52 s; make test keeps multi-turn GRPO with LoRA on Qwen3)
def test_multi_turn_grpo_on_bfcl_multi_turn_data_on_qwen3(tmp_path, bfcl_data_dir):
    run = tmp_path / "run"
    run_train([*MULTI_TURN_BFCL, f"data.path={bfcl_data_dir}"], run, timeout=900)
    rows = [r for r in read_metrics(run) if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert r["episode/steps_mean"] >= 1 and r["episode/turns_mean"] >= 1
        assert 0 <= r["rollout/unparseable"] <= 1 and 0 <= r["reward/mean"] <= 1
        assert r["tokens/prompt_mean"] > 1000  # BFCL's tool docs are in the prompt
    summary = json.loads((run / "summary.json").read_text())
    ids = [i for rank in summary["first_step_ids_per_rank"] for i in rank]
    assert ids and all(i.startswith("multi_turn_") for i in ids), ids  # BFCL's entries, not the synthetic tasks
    episodes = [json.loads(line) for line in (run / "tables" / "rollout_samples.jsonl").read_text().splitlines()]
    assert any("<|im_start|>user" in e["completion"] for e in episodes)  # a later user turn appended mid-episode
