"""The routing policy: first match wins, in the documented order, and every reason is kept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from signoff.domain.prediction import Entity, Prediction
from signoff.domain.routing import RouteReason, route
from signoff.domain.states import RouteKind
from signoff.domain.workflow import MetadataRule, RoutingSpec

LABELS = ["invoice", "contract", "receipt", "other"]


def _prediction(
    label: str | None = "invoice",
    confidence: float | None = 0.95,
    entities: tuple[Entity, ...] = (),
    error: str | None = None,
) -> Prediction:
    return Prediction(
        label=label, confidence=confidence, model="test", entities=entities, error=error
    )


def _route(
    prediction: Prediction,
    policy: RoutingSpec,
    *,
    metadata: dict[str, Any] | None = None,
    qa_draw: float = 0.99,
    threshold: float | None = 0.85,
) -> Any:
    return route(
        prediction,
        policy,
        metadata=metadata or {},
        qa_draw=qa_draw,
        threshold=threshold,
        labels=LABELS,
    )


def test_ai_error_goes_to_a_person_before_any_other_rule() -> None:
    policy = RoutingSpec(
        threshold=0.85,
        always_review_labels=["contract"],
        qa_sample_rate=1.0,
        metadata_rules=[MetadataRule(field="vip", equals=True)],
    )
    failed = _prediction(label="contract", confidence=0.99, error="boom")
    verdict = _route(failed, policy, metadata={"vip": True}, qa_draw=0.0)
    assert verdict.kind is RouteKind.HUMAN
    assert verdict.reasons == ("ai_error",)
    assert verdict.threshold == 0.85


def test_failed_prediction_from_prediction_failed_is_routed_as_ai_error() -> None:
    verdict = _route(Prediction.failed("fake", "timeout"), RoutingSpec(threshold=0.1))
    assert (verdict.kind, verdict.reasons) == (RouteKind.HUMAN, ("ai_error",))


@pytest.mark.parametrize("label", ["legal", None, ""])
def test_label_outside_the_workflow_labels_goes_to_a_person(label: str | None) -> None:
    verdict = _route(_prediction(label=label, confidence=0.99), RoutingSpec(threshold=0.5))
    assert verdict.kind is RouteKind.HUMAN
    assert verdict.reasons == ("ai_error: label outside the workflow's labels",)


def test_always_reviewed_label_goes_to_a_person_despite_high_confidence() -> None:
    policy = RoutingSpec(threshold=0.5, always_review_labels=["contract"])
    verdict = _route(_prediction(label="contract", confidence=1.0), policy)
    assert verdict.kind is RouteKind.HUMAN
    assert verdict.reasons == ("label contract is always reviewed",)
    other = _route(_prediction(label="invoice", confidence=1.0), policy)
    assert other.kind is RouteKind.AUTO


def test_present_entity_type_listed_in_review_if_entities_goes_to_a_person() -> None:
    policy = RoutingSpec(threshold=0.5, review_if_entities=["iban"])
    with_iban = _prediction(entities=(Entity(type="iban", text="DE89 3704"),))
    verdict = _route(with_iban, policy)
    assert verdict.kind is RouteKind.HUMAN
    assert verdict.reasons == ("entity iban present",)
    with_other = _prediction(entities=(Entity(type="amount", text="12.00"),))
    assert _route(with_other, policy).kind is RouteKind.AUTO


def test_metadata_rules_match_by_equals_and_one_of_and_ignore_missing_fields() -> None:
    policy = RoutingSpec(
        threshold=0.5,
        metadata_rules=[
            MetadataRule(field="country", one_of=["IR", "KP"]),
            MetadataRule(field="vip", equals=True),
        ],
    )
    assert _route(_prediction(), policy, metadata={"country": "KP"}).reasons == (
        "metadata country matches",
    )
    assert _route(_prediction(), policy, metadata={"vip": True}).reasons == (
        "metadata vip matches",
    )
    for metadata in ({}, {"country": "FR"}, {"vip": False}, {"other": True}):
        assert _route(_prediction(), policy, metadata=metadata).kind is RouteKind.AUTO


def test_every_matching_rule_is_recorded_as_a_reason() -> None:
    policy = RoutingSpec(
        threshold=0.5,
        always_review_labels=["contract"],
        review_if_entities=["iban", "ssn"],
        metadata_rules=[
            MetadataRule(field="vip", equals=True),
            MetadataRule(field="tier", one_of=["gold"]),
        ],
    )
    prediction = _prediction(
        label="contract",
        confidence=0.99,
        entities=(Entity(type="ssn", text="123"), Entity(type="iban", text="DE")),
    )
    verdict = _route(prediction, policy, metadata={"vip": True, "tier": "gold"}, qa_draw=0.0)
    assert verdict.kind is RouteKind.HUMAN
    assert verdict.reasons == (
        "label contract is always reviewed",
        "entity iban present",
        "entity ssn present",
        "metadata vip matches",
        "metadata tier matches",
    )


def test_qa_sample_takes_a_would_be_auto_item_when_the_draw_is_under_the_rate() -> None:
    policy = RoutingSpec(threshold=0.85, qa_sample_rate=0.05)
    verdict = _route(_prediction(confidence=0.95), policy, qa_draw=0.049)
    assert verdict.kind is RouteKind.HUMAN
    assert verdict.reasons == ("qa_sample",)
    assert verdict.threshold == 0.85


def test_qa_sample_skips_the_item_when_the_draw_is_at_or_over_the_rate() -> None:
    policy = RoutingSpec(threshold=0.85, qa_sample_rate=0.05)
    for draw in (0.05, 0.5, 0.999):
        verdict = _route(_prediction(confidence=0.95), policy, qa_draw=draw)
        assert verdict.kind is RouteKind.AUTO, draw
        assert verdict.reasons == ("confidence 0.95 >= 0.85",)


def test_qa_sample_never_takes_an_item_that_would_go_to_a_person_anyway() -> None:
    policy = RoutingSpec(threshold=0.85, qa_sample_rate=1.0)
    low = _route(_prediction(confidence=0.5), policy, qa_draw=0.0)
    assert low.reasons == ("confidence 0.50 < 0.85",)
    ruled = RoutingSpec(threshold=0.85, qa_sample_rate=1.0, always_review_labels=["contract"])
    assert _route(_prediction(label="contract"), ruled, qa_draw=0.0).reasons == (
        "label contract is always reviewed",
    )
    budget = RoutingSpec(error_budget=0.02, qa_sample_rate=1.0)
    no_threshold = _route(_prediction(confidence=0.99), budget, qa_draw=0.0, threshold=None)
    assert "qa_sample" not in no_threshold.reasons


def test_qa_sample_rate_zero_never_samples() -> None:
    verdict = _route(_prediction(confidence=0.95), RoutingSpec(threshold=0.85), qa_draw=0.0)
    assert verdict.kind is RouteKind.AUTO


@pytest.mark.parametrize(
    ("confidence", "kind", "reason"),
    [
        (0.84, RouteKind.HUMAN, "confidence 0.84 < 0.85"),
        (0.0, RouteKind.HUMAN, "confidence 0.00 < 0.85"),
        (0.85, RouteKind.AUTO, "confidence 0.85 >= 0.85"),
        (0.86, RouteKind.AUTO, "confidence 0.86 >= 0.85"),
        (1.0, RouteKind.AUTO, "confidence 1.00 >= 0.85"),
    ],
)
def test_fixed_threshold_sends_items_below_to_people_and_at_or_above_to_auto(
    confidence: float, kind: RouteKind, reason: str
) -> None:
    verdict = _route(_prediction(confidence=confidence), RoutingSpec(threshold=0.85))
    assert verdict.kind is kind
    assert verdict.reasons == (reason,)
    assert verdict.threshold == 0.85


def test_error_budget_without_a_learned_threshold_sends_everything_to_people() -> None:
    policy = RoutingSpec(error_budget=0.02)
    assert policy.mode == "error_budget"
    verdict = _route(_prediction(confidence=1.0), policy, threshold=None)
    assert verdict.kind is RouteKind.HUMAN
    assert verdict.reasons == ("not enough reviewed items to set a threshold",)
    assert verdict.threshold is None


def test_error_budget_with_a_learned_threshold_routes_like_a_fixed_one() -> None:
    policy = RoutingSpec(error_budget=0.02)
    assert _route(_prediction(confidence=0.91), policy, threshold=0.9).kind is RouteKind.AUTO
    below = _route(_prediction(confidence=0.89), policy, threshold=0.9)
    assert (below.kind, below.reasons) == (RouteKind.HUMAN, ("confidence 0.89 < 0.90",))


def test_no_threshold_configured_sends_everything_to_people() -> None:
    policy = RoutingSpec()
    assert policy.mode == "always_human"
    verdict = _route(_prediction(confidence=1.0), policy, threshold=None)
    assert verdict.kind is RouteKind.HUMAN
    assert verdict.reasons == ("no threshold: every item is reviewed",)


def test_prediction_without_confidence_goes_to_a_person() -> None:
    verdict = _route(_prediction(confidence=None), RoutingSpec(threshold=0.5), qa_draw=0.0)
    assert verdict.kind is RouteKind.HUMAN
    assert verdict.reasons == ("no confidence yet (model still learning)",)


def test_route_serialises_kind_reasons_and_threshold() -> None:
    verdict = _route(_prediction(confidence=0.5), RoutingSpec(threshold=0.85))
    assert verdict.to_json() == {
        "route": "human",
        "reasons": ["confidence 0.50 < 0.85"],
        "threshold": 0.85,
    }


def test_fixed_reasons_are_recorded_as_their_codes() -> None:
    verdict = _route(_prediction(confidence=0.99), RoutingSpec(threshold=0.85, qa_sample_rate=1.0))
    assert verdict.reasons == (RouteReason.QA_SAMPLE,)
    assert json.dumps(verdict.to_json()["reasons"]) == '["qa_sample"]'
