"""Metrics: the summary's figures from a known set of items, and the Prometheus exposition."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from scipy import stats

from signoff.app import create_app
from signoff.clock import FrozenClock
from signoff.domain import durations
from signoff.services import intake, processing, review, users, workflows
from signoff.services.context import Context, create_context
from signoff.settings import Settings
from signoff.storage import tables
from tests.conftest import Keys

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

DOCS = """
name: docs
labels: [invoice, contract, receipt, other]
ai: {provider: fake, retries: 0}
routing: {threshold: 0.8}
review: {sla_hours: 1}
"""
QA = """
name: qa
labels: [invoice, contract, receipt, other]
ai: {provider: fake, retries: 0}
routing: {threshold: 0.8, qa_sample_rate: 1.0}
"""
BUDGET = """
name: budget
labels: [invoice, other]
ai: {provider: fake, retries: 0}
routing: {error_budget: 0.05, min_reviewed: 10}
"""


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def mctx(settings: Settings, clock: FrozenClock) -> Iterator[Context]:
    context = create_context(settings, clock=clock)
    yield context
    context.close()


def _submit(ctx: Context, workflow: str, confidence: float, label: str = "invoice") -> int:
    content = {"text": f"document {confidence}", "label": label, "confidence": confidence}
    return intake.submit_item(ctx, workflow, intake.NewItem(content=content), "key:test").item_id


def _decide(ctx: Context, email: str, workflow: str, label: str, ms: int) -> int:
    who = next(u for u in users.list_users(ctx) if u.email == email)
    principal = users.principal_for_user(ctx, who.id)
    assert principal is not None
    task = review.claim_next_task(ctx, principal, workflow)
    assert task is not None
    review.decide(
        ctx,
        principal,
        task.id,
        review.DecisionInput(outcome="approved", label=label, time_on_task_ms=ms),
    )
    return int(task.item_id)


@pytest.fixture
def known(mctx: Context, clock: FrozenClock) -> Keys:
    """Seven decisions with known timings, one overdue task and one late decision."""
    keys = Keys(mctx)
    for source in (DOCS, QA, BUDGET):
        workflows.apply_workflow(mctx, source, "test")
    for confidence in (0.96, 0.93, 0.52, 0.61, 0.33):
        _submit(mctx, "docs", confidence)
    for _ in range(3):
        _submit(mctx, "qa", 0.91)
    providers = processing.ProviderCache(mctx)
    clock.advance(seconds=10)
    assert processing.process_batch(mctx, "test", providers, 100) == 8
    clock.advance(seconds=100)
    _decide(mctx, "reviewer@example.com", "docs", "receipt", 5000)  # override, t0+110 s
    clock.advance(seconds=7100)
    _decide(mctx, "reviewer2@example.com", "docs", "invoice", 9000)  # late, t0+7210 s
    for label, ms in (("other", 1000), ("invoice", 2000), ("invoice", 3000)):
        clock.advance(seconds=60)
        _decide(mctx, "reviewer@example.com", "qa", label, ms)  # t0+7270, 7330, 7390 s
    return keys


@pytest.fixture
def mclient(mctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx=mctx)) as test_client:
        yield test_client


def _summary(client: TestClient, keys: Keys, query: str = "since=all") -> dict[str, Any]:
    response = client.get(f"/api/v1/metrics/summary?{query}", headers=keys.auth(keys.auditor))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_summary_counts_decisions_routes_and_overrides(mclient: TestClient, known: Keys) -> None:
    s = _summary(mclient, known)
    assert s["decisions"] == {"total": 7, "auto": 2, "human": 5}
    assert s["items_received"] == 8
    assert s["automation_rate"] == pytest.approx(2 / 7, abs=1e-4)
    assert s["overridden"] == 2
    assert s["override_rate"] == pytest.approx(0.4)
    assert s["by_day"] == [
        {"day": "2026-03-02", "auto": 2, "human": 5, "overridden": 2, "override_rate": 0.4}
    ]


def _within_a_bucket(got: float, exact: float) -> bool:
    """A bucketed percentile lies in the exact one's duration bucket (domain/durations)."""
    return exact / durations.WIDTH <= got <= exact * durations.WIDTH


def test_summary_time_to_decision_has_median_and_p90_per_route(
    mclient: TestClient, known: Keys
) -> None:
    ttd = _summary(mclient, known)["time_to_decision_seconds"]
    assert ttd["auto"]["n"] == 2 and ttd["auto"]["sampled"] is False
    assert ttd["auto"]["resolution"] == pytest.approx(durations.WIDTH - 1, abs=1e-4)
    assert _within_a_bucket(ttd["auto"]["median"], 10)
    assert _within_a_bucket(ttd["auto"]["p90"], 10)
    human = [110, 7210, 7270, 7330, 7390]
    assert ttd["human"]["n"] == 5
    assert _within_a_bucket(ttd["human"]["median"], float(np.percentile(human, 50)))
    assert _within_a_bucket(ttd["human"]["p90"], float(np.percentile(human, 90)))


def test_summary_histogram_splits_confidence_by_route(mclient: TestClient, known: Keys) -> None:
    hist = _summary(mclient, known)["confidence_histogram"]
    assert len(hist["auto"]) == len(hist["human"]) == 20
    assert {i: n for i, n in enumerate(hist["auto"]) if n} == {18: 1, 19: 1}
    assert {i: n for i, n in enumerate(hist["human"]) if n} == {6: 1, 10: 1, 12: 1, 18: 3}


def test_summary_reviewers_queue_and_sla(mclient: TestClient, known: Keys) -> None:
    s = _summary(mclient, known)
    reviewers = {r["reviewer"]: r for r in s["reviewers"]}
    assert reviewers["reviewer@example.com"]["decided"] == 4
    assert reviewers["reviewer@example.com"]["median_time_on_task_ms"] == 2500
    assert reviewers["reviewer2@example.com"]["decided"] == 1
    assert reviewers["reviewer2@example.com"]["decided_late"] == 1
    assert s["queue"]["depth"] == 1 and s["queue"]["open"] == 1
    assert s["queue"]["oldest_age_seconds"] == pytest.approx(7380)
    assert s["sla"] == {"overdue_pending": 1, "decided_late": 1, "breaches": 2}


def test_summary_estimates_auto_error_from_qa_samples_with_a_clopper_pearson_bound(
    mclient: TestClient, known: Keys
) -> None:
    s = _summary(mclient, known)
    bound = float(stats.beta.ppf(0.95, 1 + 1, 3 - 1))
    assert s["auto_error"]["method"] == "qa_sample"
    assert (s["auto_error"]["n"], s["auto_error"]["errors"]) == (3, 1)
    assert s["auto_error"]["estimate"] == pytest.approx(1 / 3, abs=1e-4)
    assert s["auto_error"]["upper_bound"] == pytest.approx(bound, abs=1e-4)
    rows = {w["workflow"]: w for w in s["workflows"]}
    assert rows["docs"]["auto_error"]["estimate"] is None
    assert rows["docs"]["automation_rate"] == 0.5 and rows["docs"]["overdue"] == 1
    assert rows["qa"]["auto_error"]["upper_bound"] == pytest.approx(bound, abs=1e-4)
    assert rows["budget"]["auto_error"]["method"] == "error_budget"
    assert rows["budget"]["auto_error"]["error_budget"] == 0.05


def test_summary_narrows_to_a_workflow_and_a_window(mclient: TestClient, known: Keys) -> None:
    qa = _summary(mclient, known, "workflow=qa&since=all")
    assert qa["workflow"] == "qa" and qa["decisions"] == {"total": 3, "auto": 0, "human": 3}
    assert [w["workflow"] for w in qa["workflows"]] == ["qa"]
    since = (T0 + timedelta(hours=2)).isoformat()
    late = _summary(mclient, known, f"since={since.replace('+', '%2B')}")
    assert late["decisions"] == {"total": 4, "auto": 0, "human": 4}
    assert _summary(mclient, known, "since=24h")["decisions"]["total"] == 7


def test_summary_is_for_admins_and_auditors_only(mclient: TestClient, known: Keys) -> None:
    url = "/api/v1/metrics/summary"
    assert mclient.get(url, headers=known.auth(known.reviewer)).status_code == 403
    assert mclient.get(url).status_code == 401
    assert mclient.get(url, headers=known.auth(known.admin)).status_code == 200
    bad = mclient.get(f"{url}?since=yesterday", headers=known.auth(known.admin))
    assert bad.status_code == 422 and bad.json()["field"] == "since"
    missing = mclient.get(f"{url}?workflow=nope", headers=known.auth(known.admin))
    assert missing.status_code == 404


def test_prometheus_endpoint_exposes_items_queue_decisions_and_outbox(
    mclient: TestClient, known: Keys
) -> None:
    response = mclient.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("signoff_items", workflow="docs", state="approved") == 4
    assert value("signoff_items", workflow="docs", state="in_review") == 1
    assert value("signoff_items", workflow="qa", state="approved") == 3
    assert value("signoff_decisions_total", workflow="docs", route="auto") == 2
    assert value("signoff_decisions_total", workflow="qa", route="human") == 3
    assert value("signoff_queue_depth", workflow="docs", status="open") == 1
    assert value("signoff_queue_overdue", workflow="docs", status="open") == 1
    assert value("signoff_queue_oldest_age_seconds", workflow="docs") == pytest.approx(7380)
    assert value("signoff_outbox_pending") == 0


def test_prometheus_endpoint_exposes_review_time_overrides_error_bound_workload_and_sla(
    mclient: TestClient, mctx: Context, known: Keys
) -> None:
    ids = {u.email: str(u.id) for u in users.list_users(mctx)}
    # The reviewer takes the one waiting docs task: it now counts as their workload.
    claimed = mclient.post("/api/v1/reviews/claim", headers=known.auth(known.reviewer2))
    assert claimed.status_code == 200, claimed.text
    # What the SLA timer records when a task's escalation fires.
    with mctx.engine.begin() as connection:
        connection.execute(
            sa.update(tables.review_tasks)
            .where(tables.review_tasks.c.id == claimed.json()["id"])
            .values(escalated_at=T0)
        )
    text = mclient.get("/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    # docs: one override (receipt for invoice); qa: one of its three QA-sampled items.
    assert value("signoff_overrides_total", workflow="docs") == 1
    assert value("signoff_overrides_total", workflow="qa") == 1
    # Time to decision: docs' auto items took 10 s, its human ones 110 s and 7210 s.
    seconds = "signoff_time_to_decision_seconds"
    auto = {"workflow": "docs", "route": "auto"}
    assert value(f"{seconds}_count", **auto) == 2
    assert value(f"{seconds}_sum", **auto) == pytest.approx(20, abs=0.01)
    assert value(f"{seconds}_bucket", le="1.0", **auto) == 0
    assert value(f"{seconds}_bucket", le="60.0", **auto) == 2
    human = {"workflow": "docs", "route": "human"}
    assert value(f"{seconds}_sum", **human) == pytest.approx(7320, abs=0.01)
    assert value(f"{seconds}_bucket", le="300.0", **human) == 1
    assert value(f"{seconds}_bucket", le="3600.0", **human) == 1
    assert value(f"{seconds}_bucket", le="14400.0", **human) == 2
    assert value(f"{seconds}_bucket", le="+Inf", **human) == 2
    # The QA-sample bound of qa (1 error in 3) is the summary's; docs has no QA sample.
    summary = {w["workflow"]: w for w in _summary(mclient, known)["workflows"]}
    bound = value("signoff_auto_error_upper_bound", workflow="qa", method="qa_sample")
    assert bound == pytest.approx(summary["qa"]["auto_error"]["upper_bound"])
    assert bound == pytest.approx(stats.beta.ppf(0.95, 2, 2), abs=1e-4)
    assert not [k for k in samples if k[0] == "signoff_auto_error_upper_bound" and "docs" in str(k)]
    assert value("signoff_auto_error_budget", workflow="budget") == 0.05
    # Workload per reviewer (user ids, not emails: /metrics needs no key).
    reviewer, reviewer2 = ids["reviewer@example.com"], ids["reviewer2@example.com"]
    decisions = "signoff_reviewer_decisions_total"
    assert value(decisions, workflow="docs", reviewer_id=reviewer) == 1
    assert value(decisions, workflow="qa", reviewer_id=reviewer) == 3
    assert value(decisions, workflow="docs", reviewer_id=reviewer2) == 1
    assigned = "signoff_reviewer_assigned_tasks"
    assert value(assigned, workflow="docs", reviewer_id=reviewer2) == 1
    assert "reviewer@example.com" not in text
    # SLA: the docs decision that came after its one-hour due time, and the escalation.
    assert value("signoff_tasks_decided_late_total", workflow="docs") == 1
    assert value("signoff_tasks_decided_late_total", workflow="qa") == 0
    assert value("signoff_task_escalations_total", workflow="docs") == 1


def test_with_a_metrics_token_prometheus_needs_it_and_others_learn_no_workflow_name(
    settings: Settings,
) -> None:
    token = "scrape-token-0123456789abcdef"
    ctx = create_context(settings.model_copy(update={"metrics_token": token}))
    try:
        workflows.apply_workflow(ctx, DOCS, "test")
        with TestClient(create_app(ctx=ctx)) as client:
            for headers in (
                {},
                {"Authorization": "Bearer wrong-token-0123456789"},
                {"Authorization": token},
            ):
                refused = client.get("/metrics", headers=headers)
                assert refused.status_code == 401, refused.text
                assert refused.json()["error"] == "unauthorized"
                assert "SIGNOFF_METRICS_TOKEN" in refused.json()["detail"]
                assert "docs" not in refused.text
            scraped = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert scraped.status_code == 200, scraped.text
            samples = [
                sample
                for family in text_string_to_metric_families(scraped.text)
                for sample in family.samples
            ]
            assert any(sample.labels.get("workflow") == "docs" for sample in samples)
    finally:
        ctx.close()
