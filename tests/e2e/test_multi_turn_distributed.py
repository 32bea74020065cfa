"""Multi-turn RL (issue 18) on two ranks under torchrun (gloo on the CPU), ZeRO-3, from a trained policy.

The episodes of a step end after different numbers of generation rounds (2-5 user turns per task,
steps that stop at EOS at different lengths, calls or none), so each rank's last live episode ends
in a different round and the rank that finishes first keeps making filler calls
(`funcall.agents.multi_turn.MultiTurn.collect`) while ZeRO-3 needs both in every collective.
"""
from __future__ import annotations

import json

import pytest
from test_distributed import torchrun

from conftest import read_metrics

EPISODE_KEYS = ("episode/turns_mean", "episode/calls_mean", "episode/steps_mean", "episode/tool_tokens_frac",
                "reward/mean", "entropy/think", "kl", "adv/entropy_bonus_mean", "grad_norm")


# Both in `make test-full` (about 3.5 min each on 2 cores, with the warm start the fixture builds):
# gather=true, and gather=false (generation on the sharded weights, one all-gather a layer a token:
# synced_gpus), the lock-step that hangs if a rank stops calling generate early. `make test` keeps
# the single-turn 2-rank run from a trained policy (tests/e2e/test_distributed.py).
@pytest.mark.slow
@pytest.mark.parametrize("gather", ["true", "false"])
def test_multi_turn_entropy_grpo_on_two_ranks_with_zero3_from_a_policy_that_stops(tmp_path, multi_turn_policy, gather):
    # The preset's own shape: 4 tasks x 4 episodes a step (8 episodes a rank), 96 tokens a step,
    # micro-batches of 4 episodes; 2 held-out tasks a rank, played greedily at steps 0 and 2.
    s = torchrun(["+experiment=multi_turn_entropy_grpo", "deepspeed=zero3", "trainer.max_steps=2", *multi_turn_policy,
                  f"rollout.engine.gather={gather}", "trainer.eval_size=4"], tmp_path, timeout=600)
    assert s["world_size"] == 2 and s["zero_stage"] == 3 and s["steps"] == 2
    assert s["reference"] == "model" and "warm_start/eval_episode_pass" in s
    rows = read_metrics(tmp_path)
    steps = [r for r in rows if "reward/mean" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for r in steps:
        for key in EPISODE_KEYS:
            assert key in r, key
        assert r["episode/turns_mean"] >= 1 and r["episode/steps_mean"] >= r["episode/turns_mean"]
        assert 0 < r["episode/tool_tokens_frac"] < 1  # user turns / tool results sit between the sampled steps
        assert 0 <= r["reward/mean"] <= 1 and r["entropy/think"] > 0
        # the policy stops: most steps end with EOS before the 96-token step budget
        assert r["completion/clipped_frac"] < 0.5, r["completion/clipped_frac"]
    evals = [r for r in rows if "eval/episode_pass" in r]
    assert [r["step"] for r in evals] == [0, 2] and all(r["eval/n"] == 4 for r in evals)
    # the rollout table (rank 0's episodes of the last step) holds whole episodes, the injected user
    # turns included (this policy seldom calls; tool results in the table: test_multi_turn_rollout.py)
    episodes = [json.loads(line) for line in (tmp_path / "tables" / "rollout_samples.jsonl").read_text().splitlines()]
    assert {e["step"] for e in episodes} == {2} and len(episodes) == 8
    assert any("<|im_start|>user" in e["completion"] for e in episodes)
