"""The latency sketch answers within its documented relative error, and merging is exact."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from opscenter.analytics import sketch

latencies = st.lists(st.integers(min_value=0, max_value=3_600_000), min_size=1, max_size=400)
quantile = st.sampled_from([0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0])


def _sketch(values: list[int]) -> dict[int, int]:
    return dict(Counter(sketch.bucket_index(v) for v in values))


@given(latencies, quantile)
def test_a_quantile_is_within_the_relative_accuracy_of_the_exact_one(values, q):
    exact = sorted(values)[math.floor(q * (len(values) - 1))]
    (got,) = sketch.quantiles(_sketch(values), [q])
    assert got is not None
    assert abs(got - exact) <= sketch.RELATIVE_ACCURACY * exact + 1e-9


@given(latencies, latencies)
def test_merging_two_sketches_is_the_sketch_of_both(a, b):
    merged = Counter(_sketch(a))
    merged.update(_sketch(b))
    assert dict(merged) == _sketch(a + b)


def test_an_empty_sketch_has_no_quantiles():
    assert sketch.quantiles({}, [0.5, 0.99]) == [None, None]


def test_zero_has_its_own_bucket():
    assert sketch.bucket_index(0) == sketch.ZERO_INDEX
    assert sketch.bucket_value(sketch.ZERO_INDEX) == 0.0
    assert sketch.bucket_index(1) != sketch.ZERO_INDEX
