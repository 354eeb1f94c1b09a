"""Pure rules: task priorities for a queue ordered to learn, and typed review field values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from signoff.domain import errors, review_fields
from signoff.domain.review_order import QueueOrder, learn_until, task_priority
from signoff.domain.workflow import parse_workflow

DUE = datetime(2026, 6, 2, 8, 0, tzinfo=UTC)


def test_due_order_sets_no_priority_and_never_waits() -> None:
    assert task_priority(QueueOrder.DUE, 0.3, "a", {"a": 1}) is None
    assert learn_until(QueueOrder.DUE, DUE, timedelta(hours=1)) is None


def test_uncertainty_priority_is_the_confidence_and_no_confidence_comes_first() -> None:
    assert task_priority(QueueOrder.UNCERTAINTY, 0.72, "a", None) == 0.72
    assert task_priority(QueueOrder.UNCERTAINTY, None, None, None) == 0.0


def test_rarest_label_priority_is_the_labels_share_of_what_was_learned() -> None:
    counts = {"spam": 30, "ham": 70}
    assert task_priority(QueueOrder.RAREST_LABEL, 0.9, "spam", counts) == 0.3
    assert task_priority(QueueOrder.RAREST_LABEL, 0.9, "new", counts) == 0.0
    assert task_priority(QueueOrder.RAREST_LABEL, 0.9, "spam", {}) == 0.0
    assert task_priority(QueueOrder.RAREST_LABEL, 0.9, None, counts) == 0.0


def test_a_task_waits_for_its_priority_until_the_margin_before_its_due_time() -> None:
    assert learn_until(QueueOrder.UNCERTAINTY, DUE, timedelta(hours=1)) == DUE - timedelta(hours=1)
    assert learn_until(QueueOrder.UNCERTAINTY, None, timedelta(hours=1)) is None


def test_order_margin_must_be_a_bounded_duration() -> None:
    with pytest.raises(errors.InvalidWorkflow, match="order_margin"):
        parse_workflow({"name": "a", "labels": ["x"], "review": {"order_margin": "soon"}})
    with pytest.raises(errors.InvalidWorkflow, match="order"):
        parse_workflow({"name": "a", "labels": ["x"], "review": {"order": "random"}})


FIELDS = [
    review_fields.ReviewField(name="n", type="number", min=1, max=10, required=True),
    review_fields.ReviewField(name="d", type="date"),
    review_fields.ReviewField(name="c", type="choice", choices=["x", "y"]),
    review_fields.ReviewField(name="t", type="text", max=3),
]


def test_values_are_typed_and_blank_optional_ones_left_out() -> None:
    got = review_fields.validate_values(FIELDS, {"n": "2", "d": "2026-01-31", "c": "y", "t": ""})
    assert got == {"n": 2, "d": "2026-01-31", "c": "y"}
    assert review_fields.validate_values(FIELDS, {"n": 2.5})["n"] == 2.5


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({}, "fields.n"),
        ({"n": "nan"}, "fields.n"),
        ({"n": "inf"}, "fields.n"),
        ({"n": 11}, "fields.n"),
        ({"n": [1]}, "fields.n"),
        ({"n": 1, "d": "2026-1-31"}, "fields.d"),
        ({"n": 1, "d": 20260131}, "fields.d"),
        ({"n": 1, "c": "z"}, "fields.c"),
        ({"n": 1, "t": "long"}, "fields.t"),
        ({"n": 1, "t": 5}, "fields.t"),
        ({"n": 1, "x" * 5000: 1}, "fields"),
    ],
)
def test_a_bad_value_names_its_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(errors.ValidationFailed) as caught:
        review_fields.validate_values(FIELDS, values)
    assert caught.value.context["field"] == field
    assert len(caught.value.detail) < 400  # a hostile key is not echoed at length
