"""Wilson intervals, the blind draw, gold release counts and event redaction."""

from __future__ import annotations

import math

import pytest

from signoff.domain import oversight


def test_wilson_interval_matches_the_textbook_value_for_8_of_10() -> None:
    # Wilson (1927) score interval at 95 %: 8/10 -> (0.4902, 0.9433).
    interval = oversight.wilson(8, 10)
    assert interval.rate == pytest.approx(0.8)
    assert interval.lower == pytest.approx(0.4902, abs=1e-4)
    assert interval.upper == pytest.approx(0.9433, abs=1e-4)


def test_wilson_interval_stays_inside_zero_and_one_at_the_extremes() -> None:
    none = oversight.wilson(0, 20)
    assert none.lower == 0.0
    assert 0 < none.upper < 0.2
    every = oversight.wilson(20, 20)
    assert every.upper == 1.0
    assert 0.8 < every.lower < 1


def test_wilson_interval_of_nothing_has_no_bounds() -> None:
    empty = oversight.wilson(0, 0)
    assert (empty.rate, empty.lower, empty.upper) == (None, None, None)
    assert empty.public()["n"] == 0


def test_wilson_interval_narrows_as_n_grows_and_widens_with_the_level() -> None:
    small, large = oversight.wilson(5, 10), oversight.wilson(500, 1000)
    assert (large.upper - large.lower) < (small.upper - small.lower)
    assert small.lower is not None and small.upper is not None
    wide = oversight.wilson(5, 10, level=0.99)
    assert wide.lower < small.lower and wide.upper > small.upper


@pytest.mark.parametrize(("k", "n"), [(-1, 3), (4, 3), (1, -1)])
def test_wilson_interval_refuses_impossible_counts(k: int, n: int) -> None:
    with pytest.raises(ValueError):
        oversight.wilson(k, n)


def test_blind_draw_is_deterministic_and_hits_the_configured_fraction() -> None:
    ids = range(1, 20_001)
    blind = [i for i in ids if oversight.is_blind(i, 0.2)]
    assert blind == [i for i in ids if oversight.is_blind(i, 0.2)]
    share = len(blind) / 20_000
    # Five standard errors of a binomial share at p=0.2, n=20000.
    assert abs(share - 0.2) < 5 * math.sqrt(0.2 * 0.8 / 20_000)


def test_blind_rate_zero_and_one_mean_never_and_always() -> None:
    assert not any(oversight.is_blind(i, 0.0) for i in range(1, 500))
    assert all(oversight.is_blind(i, 1.0) for i in range(1, 500))


def test_blind_draw_is_independent_of_other_purposes() -> None:
    assert [oversight.draw(i, "blind") for i in range(5)] != [
        oversight.draw(i, "other") for i in range(5)
    ]


@pytest.mark.parametrize(
    ("real", "released", "rate", "expected"),
    [
        (0, 0, 0.2, 0),
        (4, 0, 0.2, 1),  # 1 / (1 + 4) = 0.2
        (3, 0, 0.2, 0),
        (8, 1, 0.2, 1),
        (8, 2, 0.2, 0),
        (10, 0, 0.5, 10),
        (10, 0, 0.0, 0),
        (10, 20, 0.1, 0),
    ],
)
def test_gold_release_keeps_gold_at_the_rate_of_all_tasks(
    real: int, released: int, rate: float, expected: int
) -> None:
    assert oversight.gold_to_release(real, released, rate) == expected


def test_gold_share_converges_on_the_rate() -> None:
    released = 0
    for real in range(1, 1001):
        released += oversight.gold_to_release(real, released, 0.1)
    assert released / (released + 1000) == pytest.approx(0.1, abs=0.002)


def test_a_reviewer_is_below_the_floor_only_when_the_upper_bound_is() -> None:
    assert not oversight.below_floor(oversight.wilson(8, 10), 0.9)  # upper bound 0.94
    assert oversight.below_floor(oversight.wilson(7, 10), 0.9)  # upper bound 0.89
    assert oversight.below_floor(oversight.wilson(10, 20), 0.8)
    assert not oversight.below_floor(oversight.wilson(0, 0), 0.8)
    assert not oversight.below_floor(oversight.wilson(1, 20), None)


def test_redacted_routing_event_keeps_no_trace_of_the_suggestion() -> None:
    data = {
        "label": "receipt",
        "confidence": 0.42,
        "model": "fake",
        "reasons": ["confidence 0.42 < 0.85"],
        "route": "human",
        "blind": True,
    }
    assert oversight.redact_event("routed_to_review", data) == {"route": "human", "blind": True}


def test_redacted_decision_event_keeps_the_persons_label_but_not_the_ai_label() -> None:
    data = {"label": "invoice", "ai_label": "receipt", "override": True, "outcome": "approved"}
    assert oversight.redact_event("decided", data) == {"label": "invoice", "outcome": "approved"}
