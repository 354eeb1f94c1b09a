"""The routing policy: first match wins, every reason is recorded."""

from __future__ import annotations

from enum import StrEnum, unique
from typing import Any

from signoff.domain.prediction import Prediction, Route
from signoff.domain.states import RouteKind
from signoff.domain.workflow import RoutingMode, RoutingSpec


@unique
class RouteReason(StrEnum):
    """The reasons recorded word for word; reasons with values in them are formatted."""

    AI_ERROR = "ai_error"
    LABEL_OUTSIDE_WORKFLOW = "ai_error: label outside the workflow's labels"
    NO_CONFIDENCE_YET = "no confidence yet (model still learning)"
    QA_SAMPLE = "qa_sample"
    TOO_FEW_REVIEWED = "not enough reviewed items to set a threshold"
    NO_THRESHOLD = "no threshold: every item is reviewed"
    PAUSED = "paused"


def route(
    prediction: Prediction,
    policy: RoutingSpec,
    *,
    metadata: dict[str, Any],
    qa_draw: float,
    threshold: float | None,
    labels: list[str],
) -> Route:
    """Decide `auto` or `human` for one prediction.

    `qa_draw` is a uniform random number in [0, 1) drawn by the caller (so tests
    can fix it); `threshold` is the confidence threshold in force (the fixed one,
    or the one learned for the error budget; None means nothing goes auto).
    """
    human = RouteKind.HUMAN
    if prediction.error is not None:
        return Route(human, (RouteReason.AI_ERROR,), threshold)
    if prediction.label is None and prediction.confidence is None:
        # A learning model abstains until it has enough labels: not an error.
        return Route(human, (RouteReason.NO_CONFIDENCE_YET,), threshold)
    if prediction.label is None or prediction.label not in labels:
        return Route(human, (RouteReason.LABEL_OUTSIDE_WORKFLOW,), threshold)
    reasons: list[str] = []
    if prediction.label in policy.always_review_labels:
        reasons.append(f"label {prediction.label} is always reviewed")
    present = {e.type for e in prediction.entities}
    for entity_type in policy.review_if_entities:
        if entity_type in present:
            reasons.append(f"entity {entity_type} present")
    for rule in policy.metadata_rules:
        if rule.matches(metadata):
            reasons.append(f"metadata {rule.field} matches")
    if reasons:
        return Route(human, tuple(reasons), threshold)
    if prediction.confidence is None:
        return Route(human, (RouteReason.NO_CONFIDENCE_YET,), threshold)
    would_auto = threshold is not None and prediction.confidence >= threshold
    if would_auto and qa_draw < policy.qa_sample_rate:
        return Route(human, (RouteReason.QA_SAMPLE,), threshold)
    if threshold is None:
        if policy.mode is RoutingMode.ERROR_BUDGET:
            return Route(human, (RouteReason.TOO_FEW_REVIEWED,), None)
        return Route(human, (RouteReason.NO_THRESHOLD,), None)
    if prediction.confidence < threshold:
        return Route(
            human, (f"confidence {prediction.confidence:.2f} < {threshold:.2f}",), threshold
        )
    return Route(
        RouteKind.AUTO, (f"confidence {prediction.confidence:.2f} >= {threshold:.2f}",), threshold
    )


def paused(verdict: Route) -> Route:
    """The verdict while the workflow is paused: a person decides, `paused` first."""
    reasons = tuple(r for r in verdict.reasons if r != RouteReason.PAUSED)
    return Route(RouteKind.HUMAN, (RouteReason.PAUSED, *reasons), verdict.threshold)
