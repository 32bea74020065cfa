"""DAPO dynamic sampling: the selection of informative groups, and the RL run that uses it."""
from __future__ import annotations

import torch

from conftest import read_metrics, run_train
from funcall.rollout.trajectory import Rewards, Trajectory, padded
from funcall.trainers.dynamic_sampling import informative_groups, select_groups
from funcall.trainers.scoring import logprob_gap


def fake_round(rewards: list[float], tag: str, group: int = 2):
    """A round of len(rewards) / group prompts whose completions are lists of one marker token."""
    n = len(rewards)
    lengths = [1 + i % 3 for i in range(n)]
    traj = Trajectory(prompt_ids=[[7]] * n, completion_ids=[[i] * k for i, k in enumerate(lengths)],
                      texts=[f"{tag}{i}" for i in range(n)], completion_mask=padded([[1.0] * k for k in lengths], 3),
                      think_mask=torch.zeros(n, 3), old_logps=padded([[-float(i)] * k for i, k in enumerate(lengths)], 3),
                      entropies=None, group=group)
    examples = [f"{tag}-prompt{g}" for g in range(n // group)]
    return traj, Rewards(total=torch.tensor(rewards), raw=list(rewards), components={"ast": list(rewards)}), examples


def test_informative_groups_are_those_with_unequal_rewards():
    assert informative_groups(torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0]), 2) == [False, True, False]


def test_selection_keeps_informative_groups_first_then_fills_up():
    first = fake_round([1, 1, 0, 1, 0, 0], "a")  # groups: equal, informative, equal
    second = fake_round([0, 1, 1, 1, 1, 0], "b")  # informative, equal, informative
    traj, rewards, examples, metrics = select_groups([first, second], wanted=3)
    assert examples == ["a-prompt1", "b-prompt0", "b-prompt2"]
    assert traj.texts == ["a2", "a3", "b0", "b1", "b4", "b5"] and rewards.total.tolist() == [0, 1, 0, 1, 1, 0]
    assert rewards.components["ast"] == [0, 1, 0, 1, 1, 0] and traj.group == 2 and traj.rows == 6
    assert traj.old_logps[0].tolist() == [-2.0, -2.0, -2.0] and traj.completion_mask[1].tolist() == [1.0, 0, 0]
    assert metrics == {"frac_zero_std_groups": 0.5, "rollout/kept_informative": 1.0}
    # the bound reached before enough informative groups: uninformative ones fill the step
    traj, _, examples, metrics = select_groups([first], wanted=2)
    assert examples == ["a-prompt1", "a-prompt0"] and metrics["rollout/kept_informative"] == 0.5


def test_logprob_gap_is_the_mean_absolute_difference_over_the_mask():
    a, b = torch.tensor([[0.0, -1.0, 5.0]]), torch.tensor([[-0.5, -1.25, 0.0]])
    assert logprob_gap(a, b, torch.tensor([[1.0, 1.0, 0.0]])) == 0.375


TINY_RL = ["trainer.max_steps=2", "trainer.prompts_per_step=4", "rollout.num_generations=4",
           "rollout.max_new_tokens=48", "trainer.micro_batch_size=8", "trainer.eval_size=8",
           "trainer.eval_max_new_tokens=16", "logger=none"]


def test_rl_with_dynamic_sampling_trains_on_informative_groups_and_stops_at_its_bound(tmp_path, stopping_policy):
    run_train(["+experiment=entropy_grpo", *TINY_RL, *stopping_policy, "trainer.dynamic_sampling=true",
               "trainer.max_resample=2", "trainer.table_every=1", "loss.is_correction=tis"], tmp_path)
    steps = [r for r in read_metrics(tmp_path) if "reward/mean" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for r in steps:
        # at most 2 extra rounds of 4 prompts; the groups kept are informative unless the bound was hit
        assert r["rollout/resampled_prompts"] in (0, 4, 8)
        assert 0 <= r["frac_zero_std_groups"] <= 1 and 0 <= r["rollout/kept_informative"] <= 1
        if r["rollout/resampled_prompts"] < 8:
            assert r["rollout/kept_informative"] == 1.0
        # HF generation and the trainer compute the same distribution: the gap is rounding
        assert r["logprob/gen_vs_train_abs"] < 1e-4 and abs(r["is/weight_mean"] - 1) < 1e-3
    rows = [line for line in (tmp_path / "tables" / "rollout_samples.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 16
