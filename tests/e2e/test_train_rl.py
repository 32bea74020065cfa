"""End to end: RL runs with each advantage estimator, and the reward floor for unparseable output."""
from __future__ import annotations

import json

import pytest

from conftest import read_metrics, run_train

TINY_RL = ["trainer.max_steps=3", "trainer.prompts_per_step=4", "rollout.num_generations=4",
           "rollout.max_new_tokens=24", "trainer.micro_batch_size=8", "trainer.eval_size=8",
           "trainer.eval_max_new_tokens=16", "trainer.warm_start=null", "logger=none"]
STEP_METRICS = {"reward/mean", "reward/std", "frac_zero_std_groups", "entropy/think", "entropy/answer", "kl",
                "clip_frac", "completion/length_mean", "grad_norm", "lr", "time/step_s", "time/rollout_s",
                "time/update_s", "tokens/prompt_mean", "tokens/completion_mean", "loss"}


@pytest.mark.parametrize("advantage,extra", [pytest.param("grpo", [], marks=pytest.mark.slow), ("dr_grpo", ["trainer.ppo_epochs=2", "trainer.mini_batches=2"]),
                                             ("entropy_grpo", ["trainer.recompute_logprobs=true"])])
def test_rl_runs_with_each_advantage(tmp_path, advantage, extra):
    run_train(["+experiment=grpo", f"advantage={advantage}", *TINY_RL, *extra], tmp_path)
    rows = read_metrics(tmp_path)
    steps = [r for r in rows if "reward/mean" in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert all(set(r) >= STEP_METRICS for r in steps)
    if advantage == "entropy_grpo":
        assert all("adv/entropy_bonus_mean" in r for r in steps)
    assert [r["step"] for r in rows if "eval/ast_accuracy" in r] == [0, 3]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 3 and "eval/ast_accuracy" in summary


def test_unparseable_completions_get_the_configured_floor(tmp_path):
    # the untrained tiny model writes nothing parseable: every completion gets the floor, no crash
    run_train(["+experiment=entropy_grpo", "reward.floor=-1.0", *TINY_RL], tmp_path)
    steps = [r for r in read_metrics(tmp_path) if "reward/mean" in r]
    assert [r["reward/mean"] for r in steps] == [-1.0, -1.0, -1.0]
    assert all(r["frac_zero_std_groups"] == 1.0 and r["reward/none_frac"] == 0.0 for r in steps)


def test_a_run_of_zero_steps_scores_its_start_once(tmp_path):
    # max_steps=0 (score a policy, or build a warm start): the step-0 evaluation is the final one
    run_train(["+experiment=entropy_grpo", *TINY_RL, "trainer.max_steps=0"], tmp_path)
    assert [r["step"] for r in read_metrics(tmp_path) if "eval/ast_accuracy" in r] == [0]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 0 and "eval/ast_accuracy" in summary
