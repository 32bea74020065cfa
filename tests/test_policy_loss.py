"""The clipped policy loss: values, clipping, k3 KL, aggregation modes, gradients, by hand."""
from __future__ import annotations

import math

import pytest
import torch

from funcall.losses.policy import ClippedPolicyLoss, aggregate

MASK = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])


def test_on_policy_loss_is_minus_the_mean_advantage_and_its_gradient():
    logps = torch.zeros(2, 4, requires_grad=True)
    loss, m = ClippedPolicyLoss()(logps, torch.zeros(2, 4), torch.tensor([1.0, -2.0]), MASK)
    assert loss.item() == pytest.approx(-(1 + 1 + 1 - 2) / 4)
    loss.backward()
    assert torch.allclose(logps.grad, torch.tensor([[-0.25, -0.25, -0.25, 0], [0.5, 0, 0, 0]]))
    assert m["clip_frac"] == 0 and m["ratio/mean"] == pytest.approx(1.0)


def test_clipping_by_hand():
    mask = torch.ones(2, 1)
    logps = torch.full((2, 1), math.log(1.5))
    old = torch.zeros(2, 1)
    loss, m = ClippedPolicyLoss(eps_low=0.2, eps_high=0.2)(logps, old, torch.tensor([1.0, -1.0]), mask)
    # A=+1: max(-1.5, -1.2) = -1.2 (clipped); A=-1: max(1.5, 1.2) = 1.5 (not clipped)
    assert loss.item() == pytest.approx((-1.2 + 1.5) / 2)
    assert m["clip_frac"] == pytest.approx(0.5)
    loss, _ = ClippedPolicyLoss(eps_low=0.2, eps_high=0.6)(logps, old, torch.tensor([1.0, -1.0]), mask)
    assert loss.item() == pytest.approx((-1.5 + 1.5) / 2)  # clip-higher leaves 1.5 inside


def test_k3_kl_by_hand():
    logps, ref = torch.zeros(1, 2), torch.tensor([[0.5, -0.5]])
    loss, m = ClippedPolicyLoss(kl_coef=0.1)(logps, logps, torch.zeros(1), torch.ones(1, 2), ref_logps=ref)
    k3 = [math.exp(d) - d - 1 for d in (0.5, -0.5)]
    assert m["kl"] == pytest.approx(sum(k3) / 2)
    assert loss.item() == pytest.approx(0.1 * sum(k3) / 2)


def test_entropy_regularisation_is_subtracted():
    logps = torch.zeros(1, 2)
    loss, _ = ClippedPolicyLoss(entropy_coef=0.5)(logps, logps, torch.zeros(1), torch.ones(1, 2),
                                                  entropy=torch.tensor([[2.0, 4.0]]))
    assert loss.item() == pytest.approx(-0.5 * 3.0)


def test_aggregation_modes_by_hand():
    per_token = torch.tensor([[1.0, 2.0, 3.0, 9.0], [4.0, 9.0, 9.0, 9.0]])
    assert aggregate(per_token, MASK, "token_mean").item() == pytest.approx(10 / 4)
    assert aggregate(per_token, MASK, "seq_mean_token_mean").item() == pytest.approx((2 + 4) / 2)
    assert aggregate(per_token, MASK, "seq_mean_token_sum_norm", max_len=8).item() == pytest.approx((6 / 8 + 4 / 8) / 2)
    with pytest.raises(ValueError):
        aggregate(per_token, MASK, "sum")


def test_token_level_advantages():
    logps = torch.zeros(1, 3, requires_grad=True)
    loss, _ = ClippedPolicyLoss()(logps, torch.zeros(1, 3), torch.tensor([[1.0, 2.0, 3.0]]), torch.ones(1, 3))
    assert loss.item() == pytest.approx(-2.0)
