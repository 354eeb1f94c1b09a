"""Error-budget maths: the lowest confidence threshold whose error upper bound fits the budget.

Pure functions over reviewed observations (AI confidence, whether the AI's label
matched the person's final label, and a sampling weight); no I/O. The routing
policy sends items at or above the chosen threshold to `auto`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

# Thresholds shown in the coverage/error trade-off table (the chosen one is added).
TABLE_THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99)

FloatArray = npt.NDArray[np.float64]


def clopper_pearson_upper(errors: float, n: float, confidence_level: float) -> float:
    """One-sided Clopper-Pearson upper bound of an error rate after `errors` in `n` trials.

    `errors` and `n` may be fractional (effective counts of weighted samples).
    """
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level}")
    if n <= 0:
        return 1.0  # nothing observed: nothing can be promised
    if errors < 0 or errors > n:
        raise ValueError(f"errors must be in [0, n], got errors={errors} n={n}")
    if errors >= n:
        return 1.0
    # With errors == 0 this is 1 - (1 - level) ** (1 / n), the "rule of three" family.
    from scipy import stats  # imported on first use: scipy.stats costs half a second

    return float(stats.beta.ppf(confidence_level, errors + 1.0, n - errors))


@dataclass(frozen=True)
class ReviewedObservation:
    """One item a person reviewed: the AI's confidence, and whether its label stood.

    `weight` is the inverse probability that the item was reviewed at all: a QA
    sample drawn from would-be-auto items (at or above the threshold in force)
    stands for 1 / qa_sample_rate such items; an item reviewed because it fell
    below the threshold was always going to be reviewed, so its weight is 1.
    """

    confidence: float
    correct: bool
    weight: float = 1.0


@dataclass(frozen=True)
class TradeoffRow:
    """What a threshold would give: share going auto, estimated error and its upper bound."""

    threshold: float
    coverage: float
    n_above: int
    estimated_error: float | None
    upper_bound: float | None
    within_budget: bool


@dataclass(frozen=True)
class ThresholdChoice:
    """The learned threshold (None: everything goes to people) and the evidence for it."""

    threshold: float | None
    n_reviewed: int
    n_above: int
    errors_above: int
    estimated_error: float | None
    upper_bound: float | None
    reason: str
    coverage: float = 0.0
    effective_n_above: float = 0.0
    table: tuple[TradeoffRow, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The choice as JSON-ready data, for storage and the UI."""
        data = asdict(self)
        data["table"] = [asdict(row) for row in self.table]
        return data


@dataclass(frozen=True)
class _Cumulative:
    """Running totals over observations sorted by descending confidence."""

    confidence: FloatArray  # sorted, descending
    weight: FloatArray
    weighted_errors: FloatArray
    weight_squared: FloatArray
    raw_errors: npt.NDArray[np.int64]

    def stats_at(self, count: int, confidence_level: float) -> tuple[float, float, float, float]:
        """Effective n, estimated error, upper bound and coverage of the top `count` items."""
        i = count - 1
        total_weight = float(self.weight[-1])
        w = float(self.weight[i])
        n_eff = w * w / float(self.weight_squared[i])
        rate = float(self.weighted_errors[i]) / w
        bound = clopper_pearson_upper(rate * n_eff, n_eff, confidence_level)
        return n_eff, rate, bound, w / total_weight


def _cumulate(observations: Sequence[ReviewedObservation]) -> _Cumulative:
    n = len(observations)
    confidence = np.fromiter((o.confidence for o in observations), dtype=np.float64, count=n)
    correct = np.fromiter((o.correct for o in observations), dtype=np.bool_, count=n)
    weight = np.fromiter((o.weight for o in observations), dtype=np.float64, count=n)
    if np.isnan(confidence).any() or (confidence < 0).any() or (confidence > 1).any():
        raise ValueError("confidences must be in [0, 1]")
    if not (weight > 0).all() or not np.isfinite(weight).all():
        raise ValueError("weights must be positive and finite")
    # Sort once; every candidate threshold is then a prefix, read from cumulative sums.
    order = np.argsort(-confidence, kind="stable")
    confidence, correct, weight = confidence[order], correct[order], weight[order]
    wrong = ~correct
    return _Cumulative(
        confidence=confidence,
        weight=np.cumsum(weight),
        weighted_errors=np.cumsum(weight * wrong),
        weight_squared=np.cumsum(weight * weight),
        raw_errors=np.cumsum(wrong, dtype=np.int64),
    )


def _within_budget(
    cum: _Cumulative, ends: npt.NDArray[np.intp], error_budget: float, confidence_level: float
) -> npt.NDArray[np.bool_]:
    """Whether the upper bound at each prefix end fits the budget, vectorised.

    Weighted samples enter the binomial bound through Kish's effective sample
    size n_eff = (sum w)^2 / sum w^2, with errors = weighted error rate * n_eff:
    equal weights give the exact Clopper-Pearson bound on the raw counts, while a
    mix of QA samples (weight 1/rate) and weight-1 items is not credited with more
    evidence than it holds. Instead of the bound itself we compare the beta CDF
    at the budget with the confidence level (ppf(level) <= budget <=> cdf(budget)
    >= level), which is much cheaper than the inverse for thousands of prefixes.
    """
    w = cum.weight[ends]
    n_eff = w * w / cum.weight_squared[ends]
    errors = cum.weighted_errors[ends] / w * n_eff
    ok = errors < n_eff - 1e-12
    cdf = np.zeros_like(n_eff)
    from scipy import special

    cdf[ok] = special.betainc(errors[ok] + 1.0, n_eff[ok] - errors[ok], error_budget)
    result: npt.NDArray[np.bool_] = ok & (cdf >= confidence_level)
    return result


def _table(
    cum: _Cumulative,
    chosen: float | None,
    error_budget: float,
    confidence_level: float,
) -> tuple[TradeoffRow, ...]:
    thresholds = sorted(set(TABLE_THRESHOLDS) | ({chosen} if chosen is not None else set()))
    # Confidence is sorted descending, so its negation is ascending for searchsorted.
    negated = -cum.confidence
    rows = []
    for t in thresholds:
        count = int(np.searchsorted(negated, -t, side="right"))
        if count == 0:
            rows.append(TradeoffRow(t, 0.0, 0, None, None, False))
            continue
        _, rate, bound, coverage = cum.stats_at(count, confidence_level)
        rows.append(TradeoffRow(t, coverage, count, rate, bound, bound <= error_budget))
    return tuple(rows)


def choose_threshold(
    observations: Sequence[ReviewedObservation],
    *,
    error_budget: float,
    confidence_level: float,
    min_reviewed: int,
) -> ThresholdChoice:
    """The lowest observed confidence t whose reviewed items at or above t keep the
    one-sided upper bound of the error rate within `error_budget`.

    Runs in O(n log n): one sort, cumulative sums, one vectorised test per
    distinct confidence. Returns threshold None (everything to people) with
    fewer than `min_reviewed` observations or when no threshold qualifies.
    """
    if not 0.0 < error_budget < 1.0:
        raise ValueError(f"error_budget must be in (0, 1), got {error_budget}")
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level}")
    n = len(observations)
    if n == 0 or n < min_reviewed:
        return ThresholdChoice(
            threshold=None,
            n_reviewed=n,
            n_above=0,
            errors_above=0,
            estimated_error=None,
            upper_bound=None,
            reason=f"{n} reviewed items; {min_reviewed} needed before a threshold is learned",
        )
    cum = _cumulate(observations)
    # A threshold t admits every item with confidence >= t, so each candidate is
    # the prefix ending at the last item of a run of equal confidences.
    ends = np.flatnonzero(np.r_[cum.confidence[1:] != cum.confidence[:-1], True])
    passing = ends[_within_budget(cum, ends, error_budget, confidence_level)]
    level, budget = f"{confidence_level:.0%}", f"{error_budget:.2%}"
    if passing.size == 0:
        table = _table(cum, None, error_budget, confidence_level)
        best = min(
            (row for row in table if row.upper_bound is not None),
            key=lambda row: row.upper_bound or 1.0,
            default=None,
        )
        hint = (
            f" (best in table: {best.upper_bound:.2%} at {best.threshold:.2f})"
            if best is not None and best.upper_bound is not None
            else ""
        )
        return ThresholdChoice(
            threshold=None,
            n_reviewed=n,
            n_above=0,
            errors_above=0,
            estimated_error=None,
            upper_bound=None,
            reason=f"no threshold keeps the {level} upper bound of the error within {budget}{hint}",
            table=table,
        )
    # Lowest threshold = longest passing prefix. Taking the best of many nested,
    # correlated tests slightly favours a lucky prefix; with error rates that fall
    # as confidence rises the choice matches fixed-sequence testing (scan down
    # from the top, stop at the first failure), which would be the strict variant.
    end = int(passing.max())
    count = end + 1
    threshold = float(cum.confidence[end])
    n_eff, rate, bound, coverage = cum.stats_at(count, confidence_level)
    errors_above = int(cum.raw_errors[end])
    return ThresholdChoice(
        threshold=threshold,
        n_reviewed=n,
        n_above=count,
        errors_above=errors_above,
        estimated_error=rate,
        upper_bound=bound,
        reason=f"threshold {threshold:.3f}: {errors_above} errors in {count} reviewed items "
        f"above it, estimated {rate:.2%}, {level} upper bound {bound:.2%} <= {budget}",
        coverage=coverage,
        effective_n_above=n_eff,
        table=_table(cum, threshold, error_budget, confidence_level),
    )
