"""Inter-reviewer agreement: Cohen's kappa for a pair, Fleiss' kappa for a panel."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa of two raters' answers on the same items; None without items.

    1.0 when both always agree, including the degenerate case of one category only.
    """
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(1 for a, b in pairs if a == b) / n
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    expected = sum(first[c] * second[c] for c in first) / (n * n)
    if expected >= 1.0:
        return 1.0 if observed >= 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def fleiss_kappa(items: Sequence[Mapping[K, int]]) -> float | None:
    """Fleiss' kappa over items, each a category → raters count; None without usable items.

    Items with fewer than two ratings say nothing about agreement and are left out;
    items may have different numbers of raters (each item's agreement is weighed alike).
    """
    rated = [counts for counts in items if sum(counts.values()) >= 2]
    if not rated:
        return None
    agreement = 0.0
    totals: Counter[K] = Counter()
    ratings = 0
    for counts in rated:
        n = sum(counts.values())
        agreement += (sum(k * k for k in counts.values()) - n) / (n * (n - 1))
        totals.update(counts)
        ratings += n
    observed = agreement / len(rated)
    expected = sum((v / ratings) ** 2 for v in totals.values())
    if expected >= 1.0:
        return 1.0 if observed >= 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)
