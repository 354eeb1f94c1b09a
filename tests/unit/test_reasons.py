"""Every reason the routing policy records has words for people; the codes stay as they are."""

from __future__ import annotations

from typing import Any

import pytest

from signoff.domain import reasons
from signoff.domain.prediction import Entity, Prediction
from signoff.domain.routing import RouteReason, route
from signoff.domain.workflow import MetadataRule, RoutingSpec

LABELS = ["invoice", "contract"]
FIXED = RoutingSpec(
    threshold=0.85,
    always_review_labels=["contract"],
    review_if_entities=["iban"],
    metadata_rules=[MetadataRule(field="vip", equals=True)],
    qa_sample_rate=0.5,
)
CASES: list[tuple[str, Prediction, RoutingSpec, dict[str, Any], float, float | None, str]] = [
    (
        "ai failed",
        Prediction(label=None, confidence=None, model="m", error="timeout"),
        FIXED,
        {},
        0.9,
        0.85,
        "the AI step failed, so a person decides",
    ),
    (
        "unknown label",
        Prediction(label="memo", confidence=0.9, model="m"),
        FIXED,
        {},
        0.9,
        0.85,
        "the AI answered a label this workflow does not have",
    ),
    (
        "still learning",
        Prediction(label=None, confidence=None, model="m"),
        FIXED,
        {},
        0.9,
        0.85,
        "the model is still learning and gave no confidence yet",
    ),
    (
        "always reviewed",
        Prediction(label="contract", confidence=0.99, model="m"),
        FIXED,
        {},
        0.9,
        0.85,
        "label “contract” is always reviewed by a person",
    ),
    (
        "entity present",
        Prediction(label="invoice", confidence=0.99, model="m", entities=(Entity("iban", "DE44"),)),
        FIXED,
        {},
        0.9,
        0.85,
        "an entity of type “iban” was found, which a person must check",
    ),
    (
        "metadata rule",
        Prediction(label="invoice", confidence=0.99, model="m"),
        FIXED,
        {"vip": True},
        0.9,
        0.85,
        "metadata field “vip” matches a review rule",
    ),
    (
        "qa sample",
        Prediction(label="invoice", confidence=0.99, model="m"),
        FIXED,
        {},
        0.1,
        0.85,
        "random quality check of a confident answer",
    ),
    (
        "below threshold",
        Prediction(label="invoice", confidence=0.71, model="m"),
        FIXED,
        {},
        0.9,
        0.85,
        "confidence 0.71 is below the threshold 0.85",
    ),
    (
        "at or above threshold",
        Prediction(label="invoice", confidence=0.9, model="m"),
        FIXED,
        {},
        0.9,
        0.85,
        "confidence 0.90 is at or above the threshold 0.85",
    ),
    (
        "budget still learning",
        Prediction(label="invoice", confidence=0.9, model="m"),
        RoutingSpec(error_budget=0.02),
        {},
        0.9,
        None,
        "too few reviewed items yet to learn a threshold, so every item is reviewed",
    ),
    (
        "always human",
        Prediction(label="invoice", confidence=0.9, model="m"),
        RoutingSpec(),
        {},
        0.9,
        None,
        "this workflow sends every item to a person",
    ),
]


@pytest.mark.parametrize(
    ("prediction", "policy", "metadata", "draw", "threshold", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_recorded_reason_reads_as_words(
    prediction: Prediction,
    policy: RoutingSpec,
    metadata: dict[str, Any],
    draw: float,
    threshold: float | None,
    words: str,
) -> None:
    verdict = route(
        prediction, policy, metadata=metadata, qa_draw=draw, threshold=threshold, labels=LABELS
    )
    assert len(verdict.reasons) == 1
    assert reasons.describe(verdict.reasons[0]) == words


def test_an_unknown_reason_is_shown_as_recorded() -> None:
    assert reasons.describe("escalated by the night shift") == "escalated by the night shift"
    assert reasons.describe_all(None) == []


def test_every_fixed_reason_code_has_its_own_words() -> None:
    assert set(reasons.FIXED) == set(RouteReason)
    for reason in RouteReason:
        words = reasons.describe(reason.value)
        assert words == reasons.FIXED[reason] and words != reason.value
