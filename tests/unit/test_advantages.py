"""Advantage estimators against hand-computed values, plus the properties the paper relies on."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from funcall.advantages.entropy import EntropyGuidedAdvantage
from funcall.advantages.grpo import GRPOAdvantage, dr_grpo


def test_grpo_by_hand():
    adv, m = GRPOAdvantage(eps=0.0)(torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]]))
    s = math.sqrt(1 / 3)  # sample std of (1, 0, 0, 1)
    assert torch.allclose(adv, torch.tensor([0.5 / s, -0.5 / s, -0.5 / s, 0.5 / s, 0, 0, 0, 0]))
    assert m["frac_zero_std_groups"] == 0.5


def test_grpo_population_std_and_dr_grpo():
    rewards = torch.tensor([[3.0, 1.0]])
    adv, _ = GRPOAdvantage(eps=0.0, std="population")(rewards)  # mean 2, population std 1
    assert torch.allclose(adv, torch.tensor([1.0, -1.0]))
    adv, _ = dr_grpo()(rewards)
    assert torch.allclose(adv, torch.tensor([1.0, -1.0]))  # centred, not scaled
    adv, _ = dr_grpo()(torch.tensor([[0.5, 0.0, 0.0, 0.0]]))
    assert torch.allclose(adv, torch.tensor([0.375, -0.125, -0.125, -0.125]))


# equal rewards that are not dyadic fractions (what reward=partial and mix give): the float32 mean
# of 8 of them is one ulp off, which a std threshold turned into |A| ~ 1 at eps 0
NON_DYADIC = [0.7, 2.9, 1 / 3]


def flat_group_estimators(eps):
    return [GRPOAdvantage(eps=eps), GRPOAdvantage(eps=eps, std="population"), dr_grpo(eps)]


@pytest.mark.parametrize("eps", [0.0, 1e-4])
@pytest.mark.parametrize("value", NON_DYADIC)
def test_equal_non_dyadic_rewards_give_exactly_zero_one_prompt_per_rank(value, eps):
    for est in flat_group_estimators(eps):
        adv, m = est(torch.full((1, 8), value))
        assert torch.equal(adv, torch.zeros(8)), (est.scale_by_std, est.std)
        assert m["frac_zero_std_groups"] == 1.0 and m["adv/mean_abs"] == 0.0


@pytest.mark.parametrize("eps", [0.0, 1e-4])
def test_equal_non_dyadic_rewards_give_exactly_zero_among_other_prompts(eps):
    rewards = torch.tensor([[v] * 8 for v in NON_DYADIC] + [[1.0] + [0.0] * 7])
    s = math.sqrt(1 / 8)  # sample std of (1, 0, ..., 0): mean 1/8, sum of squares 7/8, over 7
    centred = torch.tensor([7 / 8] + [-1 / 8] * 7)
    for est, last in zip(flat_group_estimators(eps), [centred / (s + eps), None, centred]):
        adv, m = est(rewards)
        assert torch.equal(adv[:24], torch.zeros(24)), (est.scale_by_std, est.std)
        assert m["frac_zero_std_groups"] == 0.75
        if last is not None:
            assert torch.allclose(adv[24:], last)


@pytest.mark.parametrize("level", ["sequence", "token"])
@pytest.mark.parametrize("placement", ["outside", "inside"])
def test_entropy_guided_advantage_of_an_equal_non_dyadic_group_is_exactly_zero(level, placement):
    # A = 0 exactly, so the bound |A| / alpha is 0 and so is the bonus, however high H is
    ent, span = torch.full((8, 3), 5.0), torch.ones(8, 3)
    for eps in (0.0, 1e-4):
        est = EntropyGuidedAdvantage(base=GRPOAdvantage(eps=eps), level=level, placement=placement)
        adv, m = est(torch.full((1, 8), 0.7), token_entropy=ent, span_mask=span, completion_mask=span)
        assert torch.equal(adv, torch.zeros_like(adv)) and m["frac_zero_std_groups"] == 1.0


ENT = torch.tensor([[1.0, 0.5, 9.0], [3.0, 1.0, 9.0]])  # the 9s are outside the span
SPAN = torch.tensor([[1, 1, 0], [1, 1, 0]])
MASK = torch.ones(2, 3)


def estimator(**kw):
    return EntropyGuidedAdvantage(base=GRPOAdvantage(eps=0.0, std="population"), **kw)


def test_entropy_bonus_sequence_level_outside_by_hand():
    # rewards (1, 0): A = (+1, -1); H = (0.75, 2.0); bound |A|/alpha = 0.5
    adv, m = estimator(coef=0.4, alpha=2.0)(torch.tensor([[1.0, 0.0]]), token_entropy=ENT, span_mask=SPAN,
                                            completion_mask=MASK)
    assert torch.allclose(adv, torch.tensor([1 + 0.4 * 0.5, -1 + 0.4 * 0.5]))
    assert m["adv/entropy_bonus_mean"] == pytest.approx(0.2)
    adv, _ = estimator(coef=0.4, alpha=4.0)(torch.tensor([[1.0, 0.0]]), token_entropy=ENT, span_mask=SPAN)
    # bound 0.25: H0 = 0.75 -> 0.25, H1 = 2 -> 0.25
    assert torch.allclose(adv, torch.tensor([1.1, -0.9]))


def test_entropy_bonus_inside_placement_by_hand():
    low = torch.tensor([[0.5, 0.5, 0.0], [3.0, 1.0, 0.0]])  # H = (0.5, 2.0)
    adv, _ = estimator(coef=0.4, alpha=2.0, placement="inside")(torch.tensor([[1.0, 0.0]]), token_entropy=low,
                                                                 span_mask=SPAN)
    # clip(0.4 * 0.5 = 0.2, bound 0.5) = 0.2; clip(0.4 * 2 = 0.8, 0.5) = 0.5
    assert torch.allclose(adv, torch.tensor([1.2, -0.5]))


def test_entropy_bonus_token_level_by_hand():
    adv, _ = estimator(coef=0.4, alpha=2.0, level="token")(torch.tensor([[1.0, 0.0]]), token_entropy=ENT,
                                                           span_mask=SPAN, completion_mask=MASK)
    # per token: A + 0.4 * min(H_t, 0.5) on span tokens, A elsewhere
    expected = torch.tensor([[1 + 0.2, 1 + 0.2, 1.0], [-1 + 0.2, -1 + 0.2, -1.0]])
    assert torch.allclose(adv, expected)


def test_span_think_and_span_completion_differ_when_tokens_lie_outside_think():
    # the third token of each row is outside <think> (entropy 9): span=completion counts it
    # A = (+1, -1), bound |A|/alpha = 10 (loose): the bonus is 0.1 * H of the chosen span,
    # think H = (0.75, 2.0), completion H = (10.5 / 3, 13 / 3)
    rewards = torch.tensor([[1.0, 0.0]])
    think, _ = estimator(coef=0.1, alpha=0.1)(rewards, token_entropy=ENT, span_mask=SPAN, completion_mask=MASK)
    whole, m = estimator(coef=0.1, alpha=0.1, span="completion")(rewards, token_entropy=ENT, span_mask=SPAN,
                                                                 completion_mask=MASK)
    assert torch.allclose(think, torch.tensor([1 + 0.075, -1 + 0.2]))
    assert torch.allclose(whole, torch.tensor([1 + 0.35, -1 + 0.1 * 13 / 3]))
    assert m["adv/span_entropy_mean"] == pytest.approx((3.5 + 13 / 3) / 2)


def test_token_level_inside_over_the_completion_is_the_formula_of_2506_14758():
    # A_t' = A_t + min(0.4 * H_t, |A_t| / 2) on every completion token (arXiv 2506.14758, eq. 5-6)
    ent = torch.tensor([[0.5, 2.0, 0.1], [1.0, 0.0, 4.0]])
    cmask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])  # row 1 ends after two tokens
    think = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    adv, _ = estimator(coef=0.4, alpha=2.0, level="token", placement="inside", span="completion")(
        torch.tensor([[1.0, 0.0]]), token_entropy=ent, span_mask=think, completion_mask=cmask)
    a = [1.0, -1.0]  # population-std GRPO of (1, 0)
    expected = [[a[i] + min(0.4 * h, abs(a[i]) / 2) if cmask[i, t] else 0.0 for t, h in enumerate(ent[i].tolist())]
                for i in range(2)]
    assert expected[0] == pytest.approx([1.2, 1.5, 1.04]) and expected[1] == pytest.approx([-0.6, -1.0, 0.0])
    assert torch.allclose(adv, torch.tensor(expected))


def test_equal_rewards_stay_at_zero_whatever_the_entropy():
    adv, m = estimator()(torch.tensor([[1.0, 1.0]]), token_entropy=ENT * 100, span_mask=SPAN)
    assert torch.equal(adv, torch.zeros(2)) and m["frac_zero_std_groups"] == 1.0


NO_THINK_ENT = torch.tensor([[3.0, 3.0, 3.0], [3.0, 1.0, 9.0]])
NO_THINK_SPAN = torch.tensor([[0, 0, 0], [1, 1, 0]])  # completion 0 has no <think> content


def test_a_completion_without_think_gets_no_bonus():
    # rewards (1, 0): A = (+1, -1), bound 0.5; H = (0: empty span, 2.0)
    adv, m = estimator(coef=0.4, alpha=2.0)(torch.tensor([[1.0, 0.0]]), token_entropy=NO_THINK_ENT,
                                            span_mask=NO_THINK_SPAN, completion_mask=MASK)
    assert adv[0].item() == 1.0 and adv[1].item() == pytest.approx(-1 + 0.4 * 0.5)
    assert m["adv/span_entropy_mean"] == pytest.approx(1.0)  # (0 + 2) / 2
    # the wrong one without <think> keeps its full penalty (the strict reward's format failure)
    adv, _ = estimator(coef=0.4, alpha=2.0)(torch.tensor([[0.0, 1.0]]), token_entropy=NO_THINK_ENT,
                                            span_mask=NO_THINK_SPAN, completion_mask=MASK)
    assert adv[0].item() == -1.0 and adv[1].item() == pytest.approx(1 + 0.4 * 0.5)
    # token level: no token of it is in the span, so every token keeps A
    adv, _ = estimator(coef=0.4, alpha=2.0, level="token")(torch.tensor([[1.0, 0.0]]), token_entropy=NO_THINK_ENT,
                                                           span_mask=NO_THINK_SPAN, completion_mask=MASK)
    assert torch.allclose(adv, torch.tensor([[1.0, 1.0, 1.0], [-1 + 0.2, -1 + 0.2, -1.0]]))
    # span=completion scores it by its whole completion: H = (3, 13 / 3), both clipped to 0.5
    adv, _ = estimator(coef=0.4, alpha=2.0, span="completion")(torch.tensor([[1.0, 0.0]]), token_entropy=NO_THINK_ENT,
                                                               span_mask=NO_THINK_SPAN, completion_mask=MASK)
    assert torch.allclose(adv, torch.tensor([1.2, -0.8]))



@settings(max_examples=200, deadline=None)
@given(rewards=st.lists(st.sampled_from([0.0, 1.0, 0.5, -3.0, 4.0]), min_size=2, max_size=8),
       ent=st.lists(st.floats(0, 20), min_size=8, max_size=8),
       level=st.sampled_from(["sequence", "token"]), placement=st.sampled_from(["outside", "inside"]))
def test_the_bonus_never_flips_the_sign_of_the_advantage(rewards, ent, level, placement):
    g = len(rewards)
    r = torch.tensor([rewards])
    h = torch.tensor(ent[:g])[:, None].repeat(1, 3)
    base, _ = GRPOAdvantage()(r)
    shaped, _ = EntropyGuidedAdvantage(coef=0.4, alpha=2.0, level=level, placement=placement)(
        r, token_entropy=h, span_mask=torch.ones(g, 3), completion_mask=torch.ones(g, 3))
    shaped = shaped if shaped.dim() == 1 else shaped[:, 0]
    assert torch.all(torch.sign(shaped) == torch.sign(base))


def test_bad_options_are_refused():
    for kw in ({"level": "word"}, {"span": "answer"}, {"placement": "around"}, {"alpha": 0.0}):
        with pytest.raises(ValueError):
            EntropyGuidedAdvantage(**kw)
    with pytest.raises(ValueError, match="entropies"):
        EntropyGuidedAdvantage()(torch.tensor([[1.0, 0.0]]))
