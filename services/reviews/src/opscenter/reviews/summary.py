"""Rating summaries: counts per star and the averages derived from them (pure).

The Bayesian average pulls a plugin with few ratings towards a prior of ``m`` ratings at ``C``:
``(m*C + sum) / (m + count)``. The prior is the catalog's ranking prior (m=10 at C=3.0, the middle
of the scale), so the average reviews publishes equals the one the catalog sorts by (ADR 0012).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

BAYES_PRIOR_WEIGHT = 10
BAYES_PRIOR_MEAN = 3.0
STARS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Summary:
    histogram: Mapping[int, int]

    @classmethod
    def of(cls, counts: Mapping[int, int]) -> Summary:
        return cls({star: int(counts.get(star, 0)) for star in STARS})

    @property
    def count(self) -> int:
        return sum(self.histogram.values())

    @property
    def total(self) -> int:
        return sum(star * n for star, n in self.histogram.items())

    @property
    def average(self) -> float:
        return round(self.total / self.count, 4) if self.count else 0.0

    @property
    def bayesian_average(self) -> float:
        if not self.count:
            return 0.0
        prior = BAYES_PRIOR_WEIGHT * BAYES_PRIOR_MEAN
        return round((prior + self.total) / (BAYES_PRIOR_WEIGHT + self.count), 4)
