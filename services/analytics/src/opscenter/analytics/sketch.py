"""A mergeable latency sketch: DDSketch's logarithmic buckets (Masson, Rim, Lee, VLDB 2019).

A latency of ``x`` ms (``x >= 1``) falls in bucket ``i = ceil(log_gamma(x)) + 1`` with
``gamma = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)``; ``0`` ms has bucket ``0``. A
bucket is reported as ``2 gamma^(i-1) / (gamma + 1)``, which is within ``RELATIVE_ACCURACY`` of
every value the bucket holds. Merging sketches is adding counts per bucket, which SQL does with
``SUM(count) GROUP BY sketch_index``: a day's or a year's percentiles come from the merged
counts, never from averaging per-hour percentiles.

The quantile ``q`` is the value of rank ``floor(q * (n - 1))`` (0-based) among the sorted
values; the sketch answers within ``RELATIVE_ACCURACY`` of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
ZERO_INDEX = 0


def bucket_index(latency_ms: int) -> int:
    """The bucket a latency falls in (``latency_ms >= 0``)."""
    if latency_ms <= 0:
        return ZERO_INDEX
    return math.ceil(math.log(latency_ms) / _LOG_GAMMA) + 1


def bucket_value(index: int) -> float:
    """The value reported for every latency in bucket ``index``."""
    if index <= ZERO_INDEX:
        return 0.0
    return 2 * GAMMA ** (index - 1) / (GAMMA + 1)


def quantiles(counts: Mapping[int, int], qs: Iterable[float]) -> list[float | None]:
    """The quantiles ``qs`` of the merged sketch ``{bucket index: count}``; None when empty."""
    wanted = list(qs)
    total = sum(counts.values())
    if total <= 0:
        return [None] * len(wanted)
    ordered = sorted((i, c) for i, c in counts.items() if c > 0)
    answers: list[float | None] = []
    for q in wanted:
        rank = math.floor(q * (total - 1))
        seen = 0
        for index, count in ordered:
            seen += count
            if seen > rank:
                answers.append(bucket_value(index))
                break
    return answers
