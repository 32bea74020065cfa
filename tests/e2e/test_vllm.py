"""Rollouts and evaluation on vLLM (the CPU build), for real: weights synced and checked against HF
``generate`` token for token, an RL job with ``rollout=vllm``, evaluation with vLLM scoring exactly
as with HF, and ``rollout=vllm_server`` against a ``vllm serve`` process started here on loopback."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from conftest import BFCL_DATA, REPO, read_metrics, run_train
from funcall.dist import free_port

VLLM_CPU = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind"}
ENGINE = ["rollout.engine.kv_cache_memory_gib=1", "rollout.engine.max_model_len=1024"]
TINY_RL = ["trainer.prompts_per_step=4", "rollout.num_generations=4", "rollout.max_new_tokens=48",
           "trainer.micro_batch_size=8", "trainer.eval_size=8", "trainer.eval_max_new_tokens=32", "logger=none"]


@pytest.mark.slow  # make test-full; make test keeps the vLLM RL run (its log-prob gap < 1e-3)
@pytest.mark.parametrize("zero", ["zero0", "zero3"])
def test_greedy_completions_equal_hf_after_every_sync(tmp_path, stopping_policy_dir, zero):
    out = tmp_path / "sync.json"
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "vllm_sync_check.py"), str(stopping_policy_dir), str(out),
                           zero, "0.1"], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **VLLM_CPU})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    for phase in ("step0", "step2"):
        assert len(result[phase]["prompts"]) == 8, phase  # 8 held-out prompts with no tied greedy step
        assert result[phase]["vllm"] == result[phase]["hf"], phase  # token for token, EOS included
    assert result["step0"]["all_hf"] != result["step2"]["all_hf"]  # the updates changed what the policy writes
    assert all(c[-1] == 2 for c in result["step0"]["vllm"] if len(c) < 64)  # a finished completion ends with EOS


def test_rl_with_rollout_vllm_runs_and_logs_its_logprob_gap(tmp_path, stopping_policy):
    run_train(["+experiment=entropy_grpo", "rollout=vllm", *ENGINE, "trainer.max_steps=3", *stopping_policy, *TINY_RL],
              tmp_path, env=VLLM_CPU, timeout=900)
    steps = [r for r in read_metrics(tmp_path) if "reward/mean" in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    for r in steps:
        assert "loss" in r and "entropy/think" in r and 0 <= r["reward/mean"] <= 1
        assert r["logprob/gen_vs_train_abs"] < 1e-3  # vLLM's log-probs against the trainer's own pass
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 3 and "eval/ast_accuracy" in summary


@pytest.mark.slow  # make test-full: keeps `make test` under 20 min on 2 cores
def test_evaluate_with_vllm_scores_what_hf_scores(tmp_path, stopping_policy_dir):
    args = [f"model.path={stopping_policy_dir}", f"eval.data_dir={BFCL_DATA}", "eval.limit=2",
            "eval.categories=[simple_python,multiple,parallel,irrelevance,live_simple]", "eval.max_new_tokens=48",
            "eval.prompt.answer_format=think_answer", "eval.prompt.tool_style=compact", "logger=none"]
    run_train(args, tmp_path / "hf", module="funcall.evaluate")
    run_train([*args, "rollout=vllm", *ENGINE], tmp_path / "vllm", module="funcall.evaluate", env=VLLM_CPU)
    hf, vl = (json.loads((tmp_path / d / "bfcl_scores.json").read_text()) for d in ("hf", "vllm"))
    assert hf["categories"] == vl["categories"] and hf["overall"] == vl["overall"]
    rows = [[json.loads(line)["completion"] for line in (tmp_path / d / "bfcl_results.jsonl").read_text().splitlines()]
            for d in ("hf", "vllm")]
    assert rows[0] == rows[1] and len(rows[0]) == 10


@contextlib.contextmanager
def served(model_dir, log_path, max_model_len: int):
    """``vllm serve MODEL_DIR`` on a free loopback port (dev mode: weights reloadable); (url, process)."""
    port = free_port()
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
         "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
         "--max-model-len", str(max_model_len), "--logprobs-mode", "processed_logprobs", "--generation-config", "vllm",
         "--served-model-name", "policy"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **VLLM_CPU, "VLLM_SERVER_DEV_MODE": "1"},
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{url}/v1/models", timeout=2)
                break
            except OSError:
                assert server.poll() is None, log_path.read_text()[-3000:]
                time.sleep(1)
        else:
            pytest.fail("vllm serve did not come up in 300 s")
        yield url, server
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        log.close()


@pytest.fixture
def vllm_server(stopping_policy_dir, tmp_path):
    with served(stopping_policy_dir, tmp_path / "server.log", 1024) as server:
        yield server


@pytest.mark.slow  # make test-full: keeps `make test` under 20 min on 2 cores
def test_rl_against_a_vllm_server_syncs_and_stops_cleanly_when_the_server_dies(tmp_path, vllm_server, stopping_policy):
    url, server = vllm_server
    run = tmp_path / "run"

    def kill_after_step_2():
        while server.poll() is None:
            rows = read_metrics(run) if (run / "metrics.jsonl").exists() else []
            if any(r.get("step") == 2 and "reward/mean" in r for r in rows) and (run / "checkpoints" / "latest").exists():
                os.killpg(server.pid, signal.SIGKILL)
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_after_step_2, daemon=True)
    killer.start()
    proc = run_train(["+experiment=entropy_grpo", "rollout=vllm_server", f"rollout.engine.base_url={url}",
                      "rollout.engine.timeout_s=30", f"rollout.engine.weights_dir={tmp_path / 'weights'}",
                      "trainer.max_steps=8", "trainer.save_every=1", *stopping_policy, *TINY_RL], run,
                     env=VLLM_CPU, timeout=900, check=False)
    killer.join(timeout=5)
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: rollout.engine.base_url={url}") and "not answering" in last, last
    steps = [r["step"] for r in read_metrics(run) if "reward/mean" in r]
    assert steps[:2] == [1, 2] and len(steps) < 8
    # the last checkpoint is a whole one, and the weights the server got were the synced ones
    tag = (run / "checkpoints" / "latest").read_text().strip()
    assert int(tag.removeprefix("step_")) in (steps[-1], steps[-1] - 1) and (run / "checkpoints" / tag).is_dir()
    assert (tmp_path / "weights" / "model.safetensors").exists()
    assert all(r["logprob/gen_vs_train_abs"] < 1e-3 for r in read_metrics(run) if "reward/mean" in r)


# Multi-turn (issue 18): episodes whose steps are generated by vLLM from the token ids of the whole
# conversation so far (prompt, sampled steps, appended tool results and user turns), played on the
# environments between rounds. The preset's episodes reach ~3000 positions: the engine's context
# is the model's (4096). Each rank's vLLM sees the same ids the trainer scores, so the logged gap
# between vLLM's and the trainer's log-probs of the sampled ids stays at float noise.
MULTI_TURN_ENGINE = ["rollout.engine.kv_cache_memory_gib=1", "rollout.engine.max_model_len=4096"]
MULTI_TURN_RL = ["+experiment=multi_turn_entropy_grpo", "trainer.max_steps=2", "trainer.prompts_per_step=2",
                 "rollout.num_generations=4", "trainer.micro_batch_size=8", "trainer.eval_size=2", "logger=none"]


def assert_multi_turn_steps(run_dir, steps: int) -> None:
    rows = [r for r in read_metrics(run_dir) if "reward/mean" in r]
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    for r in rows:
        assert r["episode/steps_mean"] >= r["episode/turns_mean"] >= 1
        assert 0 < r["episode/tool_tokens_frac"] < 1 and r["entropy/think"] > 0
        assert r["logprob/gen_vs_train_abs"] < 1e-3  # the trained ids are the ids vLLM sampled
    episodes = [json.loads(line) for line in (run_dir / "tables" / "rollout_samples.jsonl").read_text().splitlines()]
    assert any(e["completion"].count("<|im_start|>user") >= 1 for e in episodes)  # user turns injected mid-episode


@pytest.mark.slow
def test_multi_turn_rl_with_rollout_vllm(tmp_path, multi_turn_policy):
    run_train([*MULTI_TURN_RL, "rollout=vllm", *MULTI_TURN_ENGINE, *multi_turn_policy], tmp_path, env=VLLM_CPU,
              timeout=900)
    assert_multi_turn_steps(tmp_path, 2)


@pytest.mark.slow
def test_multi_turn_rl_against_a_vllm_server(tmp_path, multi_turn_policy_dir, multi_turn_policy):
    with served(multi_turn_policy_dir, tmp_path / "server.log", 4096) as (url, _):
        run_train([*MULTI_TURN_RL, "rollout=vllm_server", f"rollout.engine.base_url={url}",
                   f"rollout.engine.weights_dir={tmp_path / 'weights'}", *multi_turn_policy], tmp_path / "run",
                  env=VLLM_CPU, timeout=900)
    assert_multi_turn_steps(tmp_path / "run", 2)
    assert (tmp_path / "weights" / "model.safetensors").exists()  # the server got the updated weights
