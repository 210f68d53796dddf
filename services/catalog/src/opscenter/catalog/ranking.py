"""How the marketplace ranks plugins: a Bayesian rating, and relevance.

Bayesian rating: ``(C * m + sum) / (C + n)`` where ``n`` ratings add up to ``sum``, ``m`` is the
prior mean (3.0, the middle of the 1-5 scale) and ``C`` the prior weight (10): a plugin with few
ratings stays near 3.0, and its own average dominates after a few dozen. The reviews service
reports ``average`` and ``count``; ``sum = average * count``.
"""

from __future__ import annotations

BAYES_PRIOR_MEAN = 3.0
BAYES_PRIOR_WEIGHT = 10


def bayesian_rating(average: float, count: int) -> float:
    return (BAYES_PRIOR_WEIGHT * BAYES_PRIOR_MEAN + average * count) / (BAYES_PRIOR_WEIGHT + count)
