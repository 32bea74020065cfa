"""The unbiased pass@k estimator (Chen et al. 2021, "Evaluating Large Language Models Trained on Code").

With ``n`` samples for a problem of which ``c`` pass, the probability that at least one of ``k``
samples drawn without replacement passes is ``1 - C(n-c, k) / C(n, k)``; pass@k of a benchmark
is its mean over problems. (Plain "fraction of problems with a passing sample among the first k"
is biased and noisy; this averages over every k-subset.)

How it differs from the usual float code (``1 - prod(1 - k / arange(n-c+1, n+1))``, numpy): the
binomials are exact Python integers, and the result is one correctly rounded division
``(C(n,k) - C(n-c,k)) / C(n,k)``, so nothing overflows for large ``n`` and no precision is lost
to cancellation when pass@k is close to 0 or 1. No numpy.
"""
from __future__ import annotations

from collections.abc import Iterable
from math import comb


def pass_at_k(n: int, c: int, k: int) -> float:
    """pass@k of one problem with ``n`` samples, ``c`` of them correct (requires 1 <= k <= n)."""
    n, c, k = int(n), int(c), int(k)
    if not 0 <= c <= n:
        raise ValueError(f"pass@k: need 0 <= correct <= samples, got correct={c}, samples={n}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@k: need 1 <= k <= samples, got k={k}, samples={n}")
    if n - c < k:  # every k-subset holds a correct sample
        return 1.0
    total = comb(n, k)
    return (total - comb(n - c, k)) / total


def mean_pass_at_k(samples: Iterable[int], correct: Iterable[int], k: int) -> float:
    """pass@k of a benchmark: the mean over problems (``samples[i]``, ``correct[i]`` per problem)."""
    values = [pass_at_k(n, c, k) for n, c in zip(samples, correct, strict=True)]
    if not values:
        raise ValueError("pass@k of no problems")
    return sum(values) / len(values)
