"""The clipped policy loss: values, clipping, k3 KL, aggregation modes, gradients, by hand."""
from __future__ import annotations

import math

import pytest
import torch

from funcall.losses.policy import BatchSize, ClippedPolicyLoss, aggregate

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


@pytest.mark.parametrize("mode", ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"])
def test_micro_batch_shares_add_up_to_the_mini_batch_loss(mode):
    # one short and three long completions, split into micro-batches of different lengths (as
    # the length bucketing does): the shares must add up to the loss of the whole mini-batch
    g = torch.Generator().manual_seed(0)
    mask = torch.zeros(4, 6)
    for i, n in enumerate([1, 6, 5, 6]):
        mask[i, :n] = 1
    logps = (torch.randn(4, 6, generator=g) * 0.1).requires_grad_(True)
    old, ref = torch.randn(4, 6, generator=g) * 0.1, torch.randn(4, 6, generator=g) * 0.1
    adv = torch.tensor([1.0, -0.5, 2.0, -1.5])
    loss_fn = ClippedPolicyLoss(kl_coef=0.1, aggregation=mode, max_len=8)
    whole, m_whole = loss_fn(logps, old, adv, mask, ref_logps=ref)
    (g_whole,) = torch.autograd.grad(whole, logps)
    size = BatchSize(tokens=float(mask.sum()), sequences=4.0)
    shares, total_metrics = [], {}
    for rows in ([0], [1, 2, 3]):
        share, m = loss_fn(logps[rows], old[rows], adv[rows], mask[rows], ref_logps=ref[rows], size=size)
        shares.append(share)
        for k, v in m.items():
            total_metrics[k] = total_metrics.get(k, 0.0) + v
    (g_parts,) = torch.autograd.grad(sum(shares), logps)
    assert sum(shares).item() == pytest.approx(whole.item(), rel=1e-6)
    assert torch.allclose(g_parts, g_whole, atol=1e-7)
    for k in m_whole:
        assert total_metrics[k] == pytest.approx(m_whole[k], rel=1e-5, abs=1e-9), k
    if mode == "token_mean":  # every token weighs 1/18, the short completion's one included
        ratio = torch.exp(logps - old).detach()
        a = adv[:, None]
        per_token = torch.maximum(-a * ratio, -a * ratio.clamp(0.8, 1.2))
        assert whole.item() == pytest.approx(((per_token * mask).sum() / 18).item() + 0.1 * m_whole["kl"], rel=1e-5)


LENGTHS = [1, 6, 5, 6, 2, 3]  # completion lengths of a 6-row mini-batch
MICROS = ([0, 4], [5, 2], [1, 3])  # length-bucketed micro-batches: widths 2, 5, 6


def drgrpo_shares(loss_fn, logps, old, adv, mask):
    """The micro-batches as funcall/trainers/rl_update.py runs them: each cut to its own width,
    each given the mini-batch's size, their shares summed."""
    size = BatchSize(tokens=float(mask.sum()), sequences=float(mask.shape[0]))
    total = 0.0
    for rows in MICROS:
        c = max(LENGTHS[i] for i in rows)
        share, _ = loss_fn(logps[rows, :c], old[rows, :c], adv[rows], mask[rows, :c], size=size)
        total = total + share
    return total


def test_micro_batched_dr_grpo_equals_the_whole_batch_with_each_micro_batch_its_own_width():
    mask = torch.zeros(6, 6)
    for i, n in enumerate(LENGTHS):
        mask[i, :n] = 1
    adv = torch.tensor([1.0, -0.5, 2.0, -1.5, 0.5, 1.0])
    loss_fn = ClippedPolicyLoss(aggregation="seq_mean_token_sum_norm", max_len=8)
    on = torch.zeros(6, 6, requires_grad=True)
    # on-policy, pg_t = -A_i: sum_i -A_i * n_i / 8 over 6 completions = (-1 + 3 - 10 + 9 - 1 - 3) / 48
    whole, _ = loss_fn(on, torch.zeros(6, 6), adv, mask)
    parts = drgrpo_shares(loss_fn, on, torch.zeros(6, 6), adv, mask)
    assert whole.item() == pytest.approx(-1 / 16) and parts.item() == pytest.approx(-1 / 16)
    g = torch.Generator().manual_seed(0)
    logps = (torch.randn(6, 6, generator=g) * 0.3).requires_grad_(True)
    old = torch.randn(6, 6, generator=g) * 0.3
    whole, _ = loss_fn(logps, old, adv, mask)
    parts = drgrpo_shares(loss_fn, logps, old, adv, mask)
    assert parts.item() == pytest.approx(whole.item(), rel=1e-6)
    (g_whole,) = torch.autograd.grad(whole, logps)
    (g_parts,) = torch.autograd.grad(drgrpo_shares(loss_fn, logps, old, adv, mask), logps)
    assert torch.allclose(g_parts, g_whole, atol=1e-7)


def test_dr_grpo_without_max_len_is_refused_never_the_micro_batch_width():
    with pytest.raises(ValueError, match="loss.max_len"):
        ClippedPolicyLoss(aggregation="seq_mean_token_sum_norm")
    with pytest.raises(ValueError, match="loss.max_len"):
        ClippedPolicyLoss(aggregation="seq_mean_token_sum_norm", max_len=0)
    with pytest.raises(ValueError, match="loss.max_len"):
        aggregate(torch.ones(1, 2), torch.ones(1, 2), "seq_mean_token_sum_norm")
    for mode in ("token_mean", "seq_mean_token_mean"):  # the constant is Dr. GRPO's alone
        ClippedPolicyLoss(aggregation=mode)


def test_the_loss_declares_what_it_reads():
    assert not ClippedPolicyLoss().uses_reference and not ClippedPolicyLoss().uses_entropy
    assert ClippedPolicyLoss(kl_coef=1e-3).uses_reference and ClippedPolicyLoss(entropy_coef=0.01).uses_entropy


def test_truncated_importance_sampling_weighs_tokens_by_the_capped_ratio():
    # a known mismatch: the trainer's log-probs (old) are log 3, log 1.5 and -log 2 above the
    # engine's, so the weights are min(3, 2) = 2, 1.5 and 0.5
    old = torch.zeros(1, 3)
    rollout = old - torch.tensor([[math.log(3.0), math.log(1.5), -math.log(2.0)]])
    logps = torch.zeros(1, 3, requires_grad=True)
    loss_fn = ClippedPolicyLoss(is_correction="tis", is_cap=2.0)
    loss, m = loss_fn(logps, old, torch.tensor([1.0]), torch.ones(1, 3), rollout_logps=rollout)
    assert loss.item() == pytest.approx(-(2.0 + 1.5 + 0.5) / 3)  # ratio 1: pg = -A * w per token
    (grad,) = torch.autograd.grad(loss, logps)
    assert torch.allclose(grad, torch.tensor([[-2.0, -1.5, -0.5]]) / 3)
    assert m["is/weight_mean"] == pytest.approx(4 / 3) and m["is/capped_frac"] == pytest.approx(1 / 3)
    plain, _ = ClippedPolicyLoss()(logps, old, torch.tensor([1.0]), torch.ones(1, 3), rollout_logps=rollout)
    assert plain.item() == pytest.approx(-1.0)  # is_correction=none ignores the engine's log-probs
    with pytest.raises(ValueError, match="rollout_logps"):
        loss_fn(logps, old, torch.tensor([1.0]), torch.ones(1, 3))
    with pytest.raises(ValueError, match="is_correction"):
        ClippedPolicyLoss(is_correction="ppo")
    assert loss_fn.corrects_rollout and not ClippedPolicyLoss().corrects_rollout
