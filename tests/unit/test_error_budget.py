"""Error-budget threshold maths: bounds, the lowest valid threshold, weights."""

from __future__ import annotations

import random
import time

import pytest

from signoff.domain import error_budget as eb
from signoff.domain.error_budget import ReviewedObservation as Obs


def _many(confidence: float, n: int, errors: int = 0, weight: float = 1.0) -> list[Obs]:
    return [Obs(confidence, i >= errors, weight) for i in range(n)]


def test_zero_errors_in_100_bounds_the_error_at_about_3_percent() -> None:
    assert eb.clopper_pearson_upper(0, 100, 0.95) == pytest.approx(1 - 0.05 ** (1 / 100))
    assert eb.clopper_pearson_upper(0, 100, 0.95) == pytest.approx(0.0295, abs=1e-4)


def test_one_error_in_100_matches_the_exact_binomial_bound() -> None:
    assert eb.clopper_pearson_upper(1, 100, 0.95) == pytest.approx(0.0466, abs=1e-4)


def test_bound_is_one_when_nothing_was_observed_or_everything_was_wrong() -> None:
    assert eb.clopper_pearson_upper(0, 0, 0.95) == 1.0
    assert eb.clopper_pearson_upper(5, 5, 0.95) == 1.0


def test_bound_grows_with_errors_and_with_the_confidence_level() -> None:
    assert eb.clopper_pearson_upper(2, 100, 0.95) > eb.clopper_pearson_upper(1, 100, 0.95)
    assert eb.clopper_pearson_upper(1, 100, 0.99) > eb.clopper_pearson_upper(1, 100, 0.95)


def test_bound_accepts_fractional_effective_counts() -> None:
    low = eb.clopper_pearson_upper(1.0, 100.0, 0.95)
    mid = eb.clopper_pearson_upper(1.5, 100.0, 0.95)
    assert low < mid < eb.clopper_pearson_upper(2.0, 100.0, 0.95)


def test_threshold_is_none_with_fewer_reviewed_items_than_required() -> None:
    choice = eb.choose_threshold(
        _many(0.99, 29), error_budget=0.05, confidence_level=0.95, min_reviewed=30
    )
    assert choice.threshold is None
    assert choice.n_reviewed == 29
    assert "30 needed" in choice.reason


def test_threshold_is_none_when_no_threshold_keeps_the_bound_in_budget() -> None:
    choice = eb.choose_threshold(
        _many(0.9, 500, errors=50), error_budget=0.02, confidence_level=0.95, min_reviewed=30
    )
    assert choice.threshold is None
    assert choice.upper_bound is None
    assert "no threshold" in choice.reason
    assert choice.table  # the trade-off is still shown


def test_lowest_threshold_whose_items_stay_in_budget_is_chosen() -> None:
    observations = _many(0.99, 300) + _many(0.9, 300) + _many(0.6, 100, errors=50)
    random.Random(1).shuffle(observations)
    choice = eb.choose_threshold(
        observations, error_budget=0.02, confidence_level=0.95, min_reviewed=30
    )
    assert choice.threshold == 0.9
    assert (choice.n_above, choice.errors_above) == (600, 0)
    assert choice.upper_bound == pytest.approx(eb.clopper_pearson_upper(0, 600, 0.95))
    assert choice.upper_bound is not None and choice.upper_bound <= 0.02
    assert choice.coverage == pytest.approx(600 / 700)


def test_a_few_errors_among_confident_items_still_allow_a_threshold_within_budget() -> None:
    observations = _many(0.97, 1000, errors=5) + _many(0.7, 200, errors=40)
    choice = eb.choose_threshold(
        observations, error_budget=0.02, confidence_level=0.95, min_reviewed=30
    )
    assert choice.threshold == 0.97
    assert choice.errors_above == 5
    assert choice.estimated_error == pytest.approx(0.005)
    assert choice.upper_bound == pytest.approx(eb.clopper_pearson_upper(5, 1000, 0.95))


def test_equal_confidences_are_all_on_the_same_side_of_the_threshold() -> None:
    # 0.8 is only valid with all of its items; a threshold cannot split a tie.
    observations = _many(0.95, 400) + _many(0.8, 100, errors=30)
    choice = eb.choose_threshold(
        observations, error_budget=0.02, confidence_level=0.95, min_reviewed=30
    )
    assert choice.threshold == 0.95
    assert choice.n_above == 400


def test_qa_sample_weights_make_errors_among_confident_items_count_for_more() -> None:
    # 400 items reviewed for low confidence (weight 1, all right) and 40 QA samples
    # of auto items each standing for 20 (2 of them wrong).
    observations = _many(0.95, 400) + _many(0.97, 40, errors=2, weight=20.0)
    unweighted = [Obs(o.confidence, o.correct) for o in observations]
    kwargs = {"error_budget": 0.02, "confidence_level": 0.95, "min_reviewed": 30}
    plain = eb.choose_threshold(unweighted, **kwargs)  # type: ignore[arg-type]
    weighted = eb.choose_threshold(observations, **kwargs)  # type: ignore[arg-type]
    assert plain.threshold == 0.95  # 2 errors in 440 looks fine
    assert weighted.threshold is None  # but those 2 stand for 40 of 1,200
    row = next(r for r in weighted.table if r.threshold == 0.9)
    assert row.estimated_error == pytest.approx(40 / 1200)


def test_equal_weights_give_the_same_threshold_as_no_weights() -> None:
    observations = _many(0.99, 300) + _many(0.9, 300) + _many(0.6, 100, errors=50)
    scaled = [Obs(o.confidence, o.correct, 10.0) for o in observations]
    kwargs = {"error_budget": 0.02, "confidence_level": 0.95, "min_reviewed": 30}
    a = eb.choose_threshold(observations, **kwargs)  # type: ignore[arg-type]
    b = eb.choose_threshold(scaled, **kwargs)  # type: ignore[arg-type]
    assert (a.threshold, a.upper_bound) == (b.threshold, pytest.approx(b.upper_bound))


def test_trade_off_table_lists_standard_thresholds_and_the_chosen_one() -> None:
    observations = _many(0.93, 600) + _many(0.6, 100, errors=50)
    choice = eb.choose_threshold(
        observations, error_budget=0.02, confidence_level=0.95, min_reviewed=30
    )
    thresholds = [row.threshold for row in choice.table]
    assert choice.threshold == 0.93
    assert 0.93 in thresholds and 0.5 in thresholds and 0.99 in thresholds
    assert thresholds == sorted(thresholds)
    coverages = [row.coverage for row in choice.table]
    assert coverages == sorted(coverages, reverse=True)
    at_05 = choice.table[0]
    assert (at_05.n_above, at_05.coverage, at_05.within_budget) == (700, 1.0, False)
    at_099 = choice.table[-1]
    assert (at_099.n_above, at_099.upper_bound, at_099.within_budget) == (0, None, False)
    assert choice.to_json()["table"][0]["threshold"] == 0.5


def test_choice_over_fifty_thousand_observations_takes_well_under_a_second() -> None:
    rng = random.Random(7)
    observations = []
    for _ in range(50_000):
        confidence = rng.random() * 0.5 + 0.5
        observations.append(Obs(confidence, rng.random() > (1 - confidence) * 0.3))
    started = time.perf_counter()
    choice = eb.choose_threshold(
        observations, error_budget=0.03, confidence_level=0.95, min_reviewed=30
    )
    elapsed = time.perf_counter() - started
    assert choice.threshold is not None
    assert choice.upper_bound is not None and choice.upper_bound <= 0.03
    assert elapsed < 1.0


def test_invalid_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        eb.choose_threshold(
            _many(1.5, 50), error_budget=0.02, confidence_level=0.95, min_reviewed=1
        )
    with pytest.raises(ValueError):
        eb.choose_threshold(
            _many(0.9, 50, weight=0.0), error_budget=0.02, confidence_level=0.95, min_reviewed=1
        )
    with pytest.raises(ValueError):
        eb.clopper_pearson_upper(0, 10, 1.0)
