"""Metrics: the dashboard's figures as JSON, and Prometheus text at /metrics."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from signoff.api import errors as api_errors
from signoff.api import schemas
from signoff.api.deps import CtxDep, require
from signoff.domain import errors
from signoff.domain.states import Role
from signoff.services import metrics
from signoff.services.context import Context
from signoff.services.users import Principal

router = APIRouter(tags=["metrics"])

MetricsReaderDep = Annotated[Principal, Depends(require(Role.ADMIN, Role.AUDITOR))]

_FAMILIES: dict[str, tuple[str, str, type[Metric], list[str]]] = {
    "items": (
        "signoff_items",
        "Items by workflow and state",
        GaugeMetricFamily,
        ["workflow", "state"],
    ),
    "decisions": (
        "signoff_decisions",
        "Decided items by workflow and route",
        CounterMetricFamily,
        ["workflow", "route"],
    ),
    "overrides": (
        "signoff_overrides",
        "Human decisions that changed the AI's answer, by workflow",
        CounterMetricFamily,
        ["workflow"],
    ),
    "time_to_decision": (
        "signoff_time_to_decision_seconds",
        "Seconds from intake to decision of decided items, by workflow and route",
        HistogramMetricFamily,
        ["workflow", "route"],
    ),
    "auto_error_upper_bound": (
        "signoff_auto_error_upper_bound",
        "Upper confidence bound of the error rate on auto-decided items (method: "
        "error_budget calibration or qa_sample)",
        GaugeMetricFamily,
        ["workflow", "method"],
    ),
    "auto_error_budget": (
        "signoff_auto_error_budget",
        "The error rate an error-budget workflow accepts on auto-decided items",
        GaugeMetricFamily,
        ["workflow"],
    ),
    "queue_depth": (
        "signoff_queue_depth",
        "Pending review tasks by workflow and status",
        GaugeMetricFamily,
        ["workflow", "status"],
    ),
    "queue_overdue": (
        "signoff_queue_overdue",
        "Pending review tasks past their due time",
        GaugeMetricFamily,
        ["workflow", "status"],
    ),
    "queue_oldest_age": (
        "signoff_queue_oldest_age_seconds",
        "Age of the oldest pending review task",
        GaugeMetricFamily,
        ["workflow"],
    ),
    "reviewer_decisions": (
        "signoff_reviewer_decisions",
        "Review tasks decided, by workflow and reviewer (user id)",
        CounterMetricFamily,
        ["workflow", "reviewer_id"],
    ),
    "reviewer_assigned": (
        "signoff_reviewer_assigned_tasks",
        "Review tasks a reviewer (user id) holds now, by workflow",
        GaugeMetricFamily,
        ["workflow", "reviewer_id"],
    ),
    "decided_late": (
        "signoff_tasks_decided_late",
        "Review tasks decided after their due time (SLA breaches), by workflow",
        CounterMetricFamily,
        ["workflow"],
    ),
    "outbox_pending": (
        "signoff_outbox_pending",
        "Webhooks and notices waiting to be sent",
        GaugeMetricFamily,
        [],
    ),
    "tasks_reminded": (
        "signoff_task_reminders",
        "Review tasks reminded by their SLA (remind_after)",
        CounterMetricFamily,
        ["workflow"],
    ),
    "tasks_escalated": (
        "signoff_task_escalations",
        "Review tasks escalated by their SLA (escalate_after)",
        CounterMetricFamily,
        ["workflow"],
    ),
    "tasks_timed_out": (
        "signoff_task_timeouts",
        "Review tasks decided by default on their SLA timeout (on_timeout)",
        CounterMetricFamily,
        ["workflow"],
    ),
    "first_touch": (
        "signoff_task_first_touch_seconds",
        "Time from a review task's creation to a reviewer's first touch",
        SummaryMetricFamily,
        ["workflow"],
    ),
    "group_backlog": (
        "signoff_group_backlog",
        "Pending review tasks by reviewer group ((none): no group)",
        GaugeMetricFamily,
        ["group"],
    ),
    "group_oldest_age": (
        "signoff_group_oldest_age_seconds",
        "Age of the oldest pending review task of each reviewer group",
        GaugeMetricFamily,
        ["group"],
    ),
}


class SignoffCollector(Collector):
    """Reads a few aggregate queries at scrape time."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        values = metrics.gauges(self.ctx)
        for key, (name, doc, family, labels) in _FAMILIES.items():
            metric = family(name, doc, labels=labels)  # type: ignore[call-arg]
            for row_labels, value in values.get(key, []):
                label_values = [row_labels[k] for k in labels]
                if isinstance(value, metrics.Histogram):
                    metric.add_metric(label_values, value.buckets, value.sum)  # type: ignore[attr-defined]
                elif family is SummaryMetricFamily:
                    count, total = value
                    metric.add_metric(label_values, count_value=count, sum_value=total)  # type: ignore[attr-defined]
                else:
                    metric.add_metric(label_values, float(value))  # type: ignore[attr-defined]
            yield metric


def _registry(request: Request) -> CollectorRegistry:
    registry: CollectorRegistry | None = getattr(request.app.state, "metrics_registry", None)
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(SignoffCollector(request.app.state.ctx))
        request.app.state.metrics_registry = registry
    return registry


@router.get("/metrics", include_in_schema=False)
def prometheus(request: Request, ctx: CtxDep) -> Response:
    """Prometheus exposition of item, decision, review, queue, SLA and outbox figures."""
    expected = ctx.settings.metrics_token
    if expected is not None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise errors.Unauthorized(
                "send `Authorization: Bearer <token>` with the token in SIGNOFF_METRICS_TOKEN"
            )
    body = generate_latest(_registry(request))
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get(
    "/api/v1/metrics/summary",
    response_model=schemas.MetricsSummaryPublic,
    responses=api_errors.responses(401, 403, 404, 422, 429, 503),
)
def metrics_summary(
    ctx: CtxDep,
    principal: MetricsReaderDep,
    workflow: schemas.WorkflowQuery = None,
    since: str | None = Query(
        default=None,
        min_length=1,
        json_schema_extra={
            "anyOf": [
                {"type": "string", "enum": list(metrics.RANGES)},
                {"type": "string", "format": "date-time"},
            ]
        },
    ),
) -> dict[str, Any]:
    """Dashboard figures for one workflow or all; `since` is 24h, 7d, 30d, all or ISO 8601."""
    label, start = metrics.parse_since(ctx, since)
    scope = metrics.scope_for(ctx, principal, workflow)
    return metrics.summary(ctx, scope, start, label)
