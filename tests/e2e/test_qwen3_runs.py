"""The paths users launch, on ``model=qwen3_small``: the real Qwen3 tokenizer and chat template
under RL (entropy-guided GRPO, multi-turn GRPO, LoRA) and BFCL evaluation (issue 27, item 2).

Short runs of a random-weight model: they prove the pipeline runs end to end on a real template
and vocabulary (151,936 rows) and logs what it should, not that anything is learnt.
"""
from __future__ import annotations

import json
import math

import pytest

from conftest import read_metrics, run_train

SHORT_RL = ["model=qwen3_small", "trainer.warm_start=null", "logger=none", "trainer.max_steps=2",
            "rollout.num_generations=2", "trainer.prompts_per_step=2", "trainer.micro_batch_size=4",
            "rollout.max_new_tokens=16", "trainer.eval_size=2", "trainer.eval_max_new_tokens=8"]


@pytest.fixture(scope="module", autouse=True)
def qwen3_dir():
    from funcall.models.random_qwen import RandomQwenSpec

    return RandomQwenSpec().ensure()


@pytest.mark.parametrize("answer_format", ["hermes", pytest.param("think_answer", marks=pytest.mark.slow)])  # 13 s each
def test_entropy_guided_grpo_runs_on_qwen3(tmp_path, answer_format):
    run = tmp_path / "run"
    run_train(["+experiment=entropy_grpo", f"data.prompt.answer_format={answer_format}", *SHORT_RL], run)
    rows = [r for r in read_metrics(run) if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(math.isfinite(r["kl"]) and math.isfinite(r["entropy/answer"]) for r in rows)
    assert all(0 < r["tokens/prompt_mean"] < 8192 - 16 for r in rows)


def test_multi_turn_grpo_and_lora_run_on_qwen3(tmp_path):
    run = tmp_path / "run"
    run_train(["+experiment=multi_turn_grpo", *SHORT_RL, "model.lora.r=8", "agent.max_steps_per_turn=2",
               "agent.max_episode_tokens=256", "trainer.eval_at_start=false"], run, timeout=900)
    rows = [r for r in read_metrics(run) if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2] and all(r["episode/turns_mean"] >= 1 for r in rows)
    assert json.loads((run / "summary.json").read_text())["reference"] == "base"  # LoRA: the base is the reference


@pytest.mark.slow  # make test-full: keeps `make test` under 20 min on 2 cores (11 s; test_bfcl_offline_overall runs every BFCL task on the tiny model)
def test_bfcl_single_and_multi_turn_evaluation_run_on_qwen3(tmp_path):
    run = tmp_path / "run"
    # the data: the installed bfcl-eval package's (the multi-turn files are there, not in ../shared)
    run_train(["eval=[bfcl,bfcl_multi_turn]", "model=qwen3_small", "eval.limit=1",
               "eval.categories=[simple_python,irrelevance]", "eval.max_new_tokens=8", "eval.prompt.answer_format=hermes",
               "eval.bfcl_multi_turn.categories=[multi_turn_base]", "eval.bfcl_multi_turn.max_new_tokens=8",
               "logger=none"], run, module="funcall.evaluate")
    scores = json.loads((run / "bfcl_scores.json").read_text())["categories"]
    assert {"simple_python", "irrelevance", "multi_turn_base"} <= set(scores)
    assert all(c["n"] == 1 and c["not_run"] == 0 for c in scores.values())  # 8,192 positions fit BFCL's prompts
