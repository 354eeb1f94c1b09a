"""Log-spaced duration buckets give percentiles within one bucket of the exact ones."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from signoff.domain import durations


def _close(got: float | None, exact: float) -> bool:
    assert got is not None
    if exact < durations.MIN_SECONDS:
        return abs(got - exact) <= durations.MIN_SECONDS
    return exact / durations.WIDTH <= got <= exact * durations.WIDTH


@pytest.mark.parametrize("seconds", [0.0, 0.004, 0.01, 0.5, 1.0, 9.999, 10.0, 600.0, 86_400.0])
def test_every_duration_lies_within_its_buckets_edges(seconds: float) -> None:
    low, high = durations.edges(durations.bucket_of(seconds))
    assert low <= seconds < high


def test_a_bucket_spans_a_factor_of_ten_to_the_one_twentieth() -> None:
    low, high = durations.edges(durations.bucket_of(42.0))
    assert high / low == pytest.approx(10 ** (1 / 20))
    assert durations.bucket_of(-3.0) == durations.UNDERFLOW


@pytest.mark.parametrize("seed", range(5))
def test_bucketed_median_and_p90_are_within_a_bucket_of_numpys(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.lognormvariate(rng.uniform(0, 8), rng.uniform(0.1, 3)) for _ in range(999)]
    values += [0.0, 0.002, 2.0, 2.0, 2.0]  # an underflow bucket and repeated values
    counts = Counter(durations.bucket_of(v) for v in values)
    for q in (0, 10, 50, 90, 99, 100):
        assert _close(durations.percentile(counts, q), float(np.percentile(values, q))), q


def test_no_durations_have_no_percentile() -> None:
    assert durations.percentile({}, 50) is None
    assert durations.percentile({3: 0}, 90) is None
