"""CE and SRML on hand-made tensors: values computed by hand, the CE special case, alpha's bounds."""
from __future__ import annotations

import math

import pytest
import torch

from funcall.data.spans import CALL, PROMPT, THINK
from funcall.losses.base import SpanCounts
from funcall.losses.ce import CrossEntropyLoss
from funcall.losses.srml import SRMLLoss

# Two sequences. Row 0: 1 prompt, 3 think (1, 2, 3), 1 call (8). Row 1: 2 think (4, 6), 2 call (2, 4), 1 pad.
NLL = torch.tensor([[9.0, 1.0, 2.0, 3.0, 8.0], [4.0, 6.0, 2.0, 4.0, 0.0]])
SPANS = torch.tensor([[PROMPT, THINK, THINK, THINK, CALL], [THINK, THINK, CALL, CALL, PROMPT]])
# batch means: think = (1+2+3+4+6)/5 = 3.2; call = (8+2+4)/3 = 14/3; all target = 30/8 = 3.75


def test_ce_is_the_token_mean_over_the_target():
    loss, m = CrossEntropyLoss()(NLL, SPANS)
    assert loss.item() == pytest.approx(3.75)
    assert m["loss/think"] == pytest.approx(3.2) and m["loss/result"] == pytest.approx(14 / 3)


def test_srml_fixed_alpha_by_hand():
    loss, m = SRMLLoss(alpha=0.3)(NLL, SPANS)
    assert loss.item() == pytest.approx(0.3 * 3.2 + 0.7 * 14 / 3)
    assert m["srml/alpha"] == pytest.approx(0.3)


def test_srml_with_alpha_at_the_reasoning_share_is_plain_ce():
    share = 5 / 8  # 5 reasoning tokens of 8 target tokens
    srml, _ = SRMLLoss(alpha=share)(NLL, SPANS)
    ce, _ = CrossEntropyLoss()(NLL, SPANS)
    assert srml.item() == pytest.approx(ce.item())


def test_srml_per_sample_span_means_by_hand():
    loss, m = SRMLLoss(alpha=0.5, span_mean="sample")(NLL, SPANS)
    think = (2.0 + 5.0) / 2  # row means 2 and 5
    call = (8.0 + 3.0) / 2  # row means 8 and 3
    assert m["loss/think"] == pytest.approx(think) and m["loss/result"] == pytest.approx(call)
    assert loss.item() == pytest.approx(0.5 * think + 0.5 * call)


def test_srml_gradients_weight_the_spans():
    nll = NLL.clone().requires_grad_(True)
    SRMLLoss(alpha=0.25)(nll, SPANS)[0].backward()
    # each think token gets 0.25/5, each call token 0.75/3, prompt/pad nothing
    expected = torch.tensor([[0, 0.05, 0.05, 0.05, 0.25], [0.05, 0.05, 0.25, 0.25, 0]])
    assert torch.allclose(nll.grad, expected)


def test_learnable_alpha_starts_at_init_and_stays_in_bounds():
    loss_fn = SRMLLoss(learnable=True, alpha_init=0.7, alpha_min=0.1, alpha_max=0.9, alpha_reg=0.5)
    assert loss_fn.alpha().item() == pytest.approx(0.7, abs=1e-6)
    opt = torch.optim.SGD(loss_fn.parameters(), lr=50.0)
    for _ in range(200):  # the think span is much harder: plain descent would push alpha to its floor
        opt.zero_grad()
        loss, _ = loss_fn(torch.tensor([[10.0, 0.1]]), torch.tensor([[THINK, CALL]]))
        loss.backward()
        opt.step()
    # the unconstrained optimum sigmoid((0.1 - 10) / 0.5) ~ 3e-9 lies below the floor: alpha
    # goes to the floor and no further
    assert 0.1 <= loss_fn.alpha().item() < 0.15


def test_learnable_alpha_equilibrium_is_interior_for_a_small_gap():
    loss_fn = SRMLLoss(learnable=True, alpha_init=0.7, alpha_min=0.05, alpha_max=0.95, alpha_reg=1.0)
    opt = torch.optim.SGD(loss_fn.parameters(), lr=5.0)
    nll, spans = torch.tensor([[1.5, 1.0]]), torch.tensor([[THINK, CALL]])
    for _ in range(2000):
        opt.zero_grad()
        loss_fn(nll, spans)[0].backward()
        opt.step()
    # minimise a*1.5 + (1-a)*1.0 - H(a), a = .05 + .9 s: stationary where 0.5 = log((1-a)/a)
    a_star = 1 / (1 + math.exp(0.5))
    assert loss_fn.alpha().item() == pytest.approx(a_star, abs=1e-3)


def test_srml_rejects_bad_options():
    with pytest.raises(ValueError, match="span_mean"):
        SRMLLoss(span_mean="token")
    with pytest.raises(ValueError, match="alpha"):
        SRMLLoss(alpha=1.5)


@pytest.mark.parametrize("loss_fn", [CrossEntropyLoss(), SRMLLoss(alpha=0.3), SRMLLoss(alpha=0.3, span_mean="sample"),
                                     SRMLLoss(learnable=True, alpha_reg=0.5)], ids=["ce", "srml", "srml_sample", "srml_learn"])
def test_micro_batch_shares_add_up_to_the_step_loss(loss_fn):
    # the two rows as two micro-batches of a gradient-accumulation step: the shares (each
    # normalised by the step's counts) add up to the loss of the whole step, values and gradients
    nll = NLL.clone().requires_grad_(True)
    whole, m_whole = loss_fn(nll, SPANS)
    (g_whole,) = torch.autograd.grad(whole, nll)
    counts = SpanCounts.of(SPANS)
    counts = SpanCounts(*counts.values(), parts=2)
    parts = [loss_fn(nll[i:i + 1], SPANS[i:i + 1], counts) for i in range(2)]
    (g_parts,) = torch.autograd.grad(sum(p[0] for p in parts), nll)
    assert sum(p[0] for p in parts).item() == pytest.approx(whole.item(), rel=1e-6)
    assert torch.allclose(g_parts, g_whole, atol=1e-7)
    for key, value in m_whole.items():
        assert sum(p[1][key] for p in parts) == pytest.approx(value, rel=1e-6), key


def test_a_learnable_alpha_reaches_its_stationary_value_at_a_7b_sft_learning_rate():
    # The optimizer as SFT builds it (conf/optim/adamw.yaml at FunReason's lr 4e-5, groups from
    # funcall.trainers.build.optimizer_groups): alpha has its own group at loss.alpha_lr. With
    # L_think = 1.5 and L_result = 1.0 held fixed, the loss a*1.5 + (1-a)*1.0 - H(a) is stationary
    # at a* = sigmoid(-0.5 / alpha_reg) = 0.3775. At the model's lr alpha would sit at 0.70.
    from hydra import compose, initialize_config_dir

    from conftest import REPO
    from funcall.trainers.build import optimizer_groups
    from funcall.trainers.sft import SFTModule
    from funcall.utils.instantiate import instantiate

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["+experiment=funreason_srml", "loss.learnable=true",
                                                      "optim.optimizer.lr=4e-5"])
    loss_fn = instantiate(cfg.loss)
    module = SFTModule(torch.nn.Linear(4, 4), loss_fn)
    optimizer = instantiate(cfg.optim.optimizer)(optimizer_groups(module, loss_fn.parameter_groups()))
    assert [g["lr"] for g in optimizer.param_groups] == [4e-5, cfg.loss.alpha_lr]
    nll, spans = torch.tensor([[1.5, 1.0]]), torch.tensor([[THINK, CALL]])
    a_star = 1 / (1 + math.exp(0.5 / cfg.loss.alpha_reg))
    for _ in range(300):
        optimizer.zero_grad()
        loss_fn(nll, spans)[0].backward()
        optimizer.step()
    assert loss_fn.alpha().item() == pytest.approx(a_star, abs=0.05)
