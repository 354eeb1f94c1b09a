"""Log-spaced duration buckets and the percentiles they give, for the dashboard rollups.

A duration of `s` seconds falls in bucket `floor(PER_DECADE * log10(s))`, so every
bucket spans a factor of 10 ** (1 / PER_DECADE) (about 12 %); durations under
MIN_SECONDS share one linear bucket from 0. A percentile read from the buckets lies in
the same bucket as the exact one: within one bucket width of it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

#: Buckets per factor of ten: each bucket's upper edge is 10 ** (1/20) ≈ 1.122 × its lower.
PER_DECADE = 20
#: Durations below this (seconds) share the UNDERFLOW bucket [0, MIN_SECONDS).
MIN_SECONDS = 0.01
UNDERFLOW = math.floor(PER_DECADE * math.log10(MIN_SECONDS)) - 1
#: Ratio of a bucket's upper edge to its lower one: the relative resolution.
WIDTH = 10 ** (1 / PER_DECADE)


def bucket_of(seconds: float) -> int:
    """The bucket holding a duration (negative durations, from clock steps, count as 0)."""
    if seconds < MIN_SECONDS:
        return UNDERFLOW
    bucket = math.floor(PER_DECADE * math.log10(seconds))
    # Guard the edges against log10 rounding: the bucket's lower edge is <= seconds.
    if edges(bucket)[0] > seconds:
        bucket -= 1
    elif edges(bucket + 1)[0] <= seconds:
        bucket += 1
    return max(bucket, UNDERFLOW + 1)


def edges(bucket: int) -> tuple[float, float]:
    """The [lower, upper) edges of a bucket, in seconds."""
    if bucket <= UNDERFLOW:
        return 0.0, MIN_SECONDS
    return 10 ** (bucket / PER_DECADE), 10 ** ((bucket + 1) / PER_DECADE)


def _order_statistic(ordered: list[tuple[int, int]], index: int) -> float:
    """The `index`-th smallest duration (0-based), placed evenly within its bucket."""
    seen = 0
    for bucket, n in ordered:
        if index < seen + n:
            low, high = edges(bucket)
            position = (index - seen + 0.5) / n
            if bucket <= UNDERFLOW:
                return low + (high - low) * position
            return float(low * (high / low) ** position)
        seen += n
    raise IndexError(index)


def percentile(counts: Mapping[int, int], q: float) -> float | None:
    """The q-th percentile (0–100) of the durations counted per bucket; None when empty.

    Interpolates between order statistics as numpy's default (linear) method does,
    each order statistic being placed within its bucket.
    """
    ordered = sorted((b, int(n)) for b, n in counts.items() if n > 0)
    total = sum(n for _, n in ordered)
    if total == 0:
        return None
    rank = q / 100 * (total - 1)
    below = math.floor(rank)
    low = _order_statistic(ordered, below)
    if rank == below:
        return low
    high = _order_statistic(ordered, below + 1)
    return low + (high - low) * (rank - below)
