"""The AI step on SQLite and PostgreSQL: retries, ai_error routing, leases and late results."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from signoff.clock import FrozenClock
from signoff.domain.prediction import Prediction
from signoff.domain.states import RouteKind
from signoff.services import intake, processing
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.storage import audit, items, tasks
from signoff.storage import tables as t
from signoff.testing.fake_provider import FakeProvider
from tests.conftest import FAKE_WORKFLOW, make_settings

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def fctx(db_url: str, clock: FrozenClock) -> Iterator[Context]:
    """A context on a fresh database whose time only moves when the test says so."""
    context = create_context(make_settings(db_url), clock=clock)
    workflow_service.apply_workflow(context, FAKE_WORKFLOW, "test")
    yield context
    context.close()


def _submit(ctx: Context, content: dict[str, Any]) -> int:
    return intake.submit_item(ctx, "docs", intake.NewItem(content=content), "test").item_id


def _provider(ctx: Context, cache: processing.ProviderCache) -> FakeProvider:
    view = workflow_service.get_workflow(ctx, "docs")
    provider = cache.get(view.id, view.version, view.spec)
    assert isinstance(provider, FakeProvider)
    return provider


def _row(ctx: Context, item_id: int) -> Any:
    with ctx.sessions() as session:
        return items.read_item(session, item_id)


def _event_types(ctx: Context, item_id: int) -> list[str]:
    with ctx.sessions() as session:
        return [e.type for e in audit.list_item_events(session, item_id)]


def test_ai_failure_is_retried_then_routed_to_a_person_as_ai_error(fctx: Context) -> None:
    item_id = _submit(fctx, {"fail": "boom"})
    cache = processing.ProviderCache(fctx)
    assert processing.process_batch(fctx, "w1", cache, 10) == 1
    assert _provider(fctx, cache).calls == 3  # the first try and `retries: 2`
    row = _row(fctx, item_id)
    assert row.state == "in_review"
    assert row.route == RouteKind.HUMAN.value
    assert row.route_reasons == ["ai_error"]
    assert row.prediction["error"] == "boom"
    assert (row.ai_label, row.confidence) == (None, None)
    assert (row.lease_owner, row.lease_expires_at) == (None, None)
    with fctx.sessions() as session:
        assert [tk.status for tk in tasks.list_tasks_for_item(session, item_id)] == ["open"]
        routed = [
            e for e in audit.list_item_events(session, item_id) if e.type == "routed_to_review"
        ]
    assert len(routed) == 1
    assert routed[0].data["reasons"] == ["ai_error"]
    assert routed[0].data["error"] == "boom"


def test_ai_failure_that_clears_on_retry_is_decided_normally(fctx: Context) -> None:
    item_id = _submit(fctx, {"fail_times": 1, "label": "invoice", "confidence": 0.95})
    cache = processing.ProviderCache(fctx)
    processing.process_batch(fctx, "w1", cache, 10)
    assert _provider(fctx, cache).calls == 2
    row = _row(fctx, item_id)
    assert row.state == "approved"
    assert row.decided_by == "ai"
    assert row.prediction["error"] is None
    assert row.route_reasons == ["confidence 0.95 >= 0.85"]


def test_non_retryable_provider_error_is_not_retried(fctx: Context) -> None:
    item_id = _submit(fctx, {"fail": "bad request", "retryable": False})
    cache = processing.ProviderCache(fctx)
    processing.process_batch(fctx, "w1", cache, 10)
    assert _provider(fctx, cache).calls == 1
    row = _row(fctx, item_id)
    assert (row.state, row.route_reasons) == ("in_review", ["ai_error"])
    assert row.prediction["error"] == "bad request"


def test_one_failing_item_does_not_hold_back_the_others_in_its_batch(fctx: Context) -> None:
    good = _submit(fctx, {"label": "receipt", "confidence": 0.99})
    bad = _submit(fctx, {"fail": "boom"})
    unsure = _submit(fctx, {"label": "receipt", "confidence": 0.2})
    contract = _submit(fctx, {"label": "contract", "confidence": 0.99})
    assert processing.process_batch(fctx, "w1", processing.ProviderCache(fctx), 10) == 4
    assert _row(fctx, good).state == "approved"
    assert _row(fctx, bad).route_reasons == ["ai_error"]
    assert _row(fctx, unsure).route_reasons == ["confidence 0.20 < 0.85"]
    assert _row(fctx, contract).route_reasons == ["label contract is always reviewed"]
    assert processing.process_batch(fctx, "w1", processing.ProviderCache(fctx), 10) == 0


def test_claim_leases_items_to_the_worker_until_the_lease_time(
    fctx: Context, clock: FrozenClock
) -> None:
    item_id = _submit(fctx, {"label": "invoice", "confidence": 0.95})
    work = processing.claim_batch(fctx, "worker-a", 10)
    assert [w.item_id for w in work] == [item_id]
    row = _row(fctx, item_id)
    assert row.state == "processing"
    assert row.lease_owner == "worker-a"
    assert (row.lease_expires_at - START).total_seconds() == fctx.settings.worker.lease_seconds
    assert row.attempts == 1
    # Still leased: nobody else may take it.
    assert processing.claim_batch(fctx, "worker-b", 10) == []
    clock.advance(seconds=fctx.settings.worker.lease_seconds - 1)
    assert processing.claim_batch(fctx, "worker-b", 10) == []


def test_worker_whose_lease_expired_cannot_write_its_late_result(
    fctx: Context, clock: FrozenClock
) -> None:
    item_id = _submit(fctx, {"label": "invoice", "confidence": 0.95})
    late_work = processing.claim_batch(fctx, "worker-a", 10)
    assert [w.item_id for w in late_work] == [item_id]
    # Worker A stalls past its lease; worker B recovers the item and decides it.
    clock.advance(seconds=fctx.settings.worker.lease_seconds + 1)
    assert processing.process_batch(fctx, "worker-b", processing.ProviderCache(fctx), 10) == 1
    decided = _row(fctx, item_id)
    assert decided.state == "approved"
    assert decided.attempts == 2

    # A finally answers, with a different (wrong) label.
    spec = workflow_service.get_workflow(fctx, "docs").spec
    late_prediction = Prediction(label="receipt", confidence=0.99, model="fake")
    clock.advance(seconds=5)
    processing.record_results(fctx, "worker-a", [(late_work[0], spec, late_prediction)])

    after = _row(fctx, item_id)
    assert after.state == "approved"
    assert (after.ai_label, after.final_label) == ("invoice", "invoice")
    assert after.decided_at == decided.decided_at
    assert (after.audit_seq, after.audit_hash) == (decided.audit_seq, decided.audit_hash)
    assert _event_types(fctx, item_id) == [
        "received",
        "claimed",
        "lease_recovered",
        "auto_decided",
    ]
    with fctx.sessions() as session:
        events = audit.list_item_events(session, item_id)
        review_tasks = tasks.list_tasks_for_item(session, item_id)
        decisions = session.execute(
            sa.select(sa.func.count())
            .select_from(t.audit_events)
            .where(
                t.audit_events.c.item_id == item_id,
                t.audit_events.c.type.in_(["auto_decided", "routed_to_review", "decided"]),
            )
        ).scalar_one()
    assert decisions == 1
    assert review_tasks == []
    recovered = events[2]
    assert recovered.actor == "worker:worker-b"
    assert recovered.data["previous_owner"] == "worker-a"
    assert recovered.data["attempt"] == 2
    assert (recovered.data["from"], recovered.data["to"]) == ("processing", "processing")
    assert events[3].actor == "ai"


def test_late_result_that_would_route_to_review_creates_no_task(
    fctx: Context, clock: FrozenClock
) -> None:
    item_id = _submit(fctx, {"label": "invoice", "confidence": 0.95})
    late_work = processing.claim_batch(fctx, "worker-a", 10)
    clock.advance(seconds=fctx.settings.worker.lease_seconds + 1)
    processing.process_batch(fctx, "worker-b", processing.ProviderCache(fctx), 10)
    spec = workflow_service.get_workflow(fctx, "docs").spec
    failed = Prediction.failed("fake", "timeout")
    processing.record_results(fctx, "worker-a", [(late_work[0], spec, failed)])
    with fctx.sessions() as session:
        assert tasks.list_tasks_for_item(session, item_id) == []
    assert _row(fctx, item_id).state == "approved"


def test_late_result_is_dropped_while_the_new_owner_still_holds_the_lease(
    fctx: Context, clock: FrozenClock
) -> None:
    item_id = _submit(fctx, {"label": "invoice", "confidence": 0.5})
    work_a = processing.claim_batch(fctx, "worker-a", 10)
    clock.advance(seconds=fctx.settings.worker.lease_seconds + 1)
    work_b = processing.claim_batch(fctx, "worker-b", 10)
    assert [w.item_id for w in work_b] == [item_id]
    spec = workflow_service.get_workflow(fctx, "docs").spec
    confident = Prediction(label="invoice", confidence=0.99, model="fake")
    processing.record_results(fctx, "worker-a", [(work_a[0], spec, confident)])
    row = _row(fctx, item_id)
    assert (row.state, row.lease_owner, row.decided_at) == ("processing", "worker-b", None)
    unsure = Prediction(label="invoice", confidence=0.5, model="fake")
    processing.record_results(fctx, "worker-b", [(work_b[0], spec, unsure)])
    row = _row(fctx, item_id)
    assert (row.state, row.confidence, row.lease_owner) == ("in_review", 0.5, None)
    assert _event_types(fctx, item_id) == [
        "received",
        "claimed",
        "lease_recovered",
        "routed_to_review",
    ]


def test_auto_decisions_record_the_outcome_their_label_maps_to(fctx: Context) -> None:
    moderation = """
name: posts
labels: [ok, spam]
ai: {provider: fake}
routing: {threshold: 0.8}
review: {outcomes: [allow, remove], reject_outcomes: [remove], auto_outcome: allow,
         auto_outcomes: {spam: remove}}
"""
    workflow_service.apply_workflow(fctx, moderation, "test")
    ids = [
        intake.submit_item(fctx, "posts", intake.NewItem(content=c), "test").item_id
        for c in ({"label": "ok", "confidence": 0.95}, {"label": "spam", "confidence": 0.95})
    ]
    processing.process_batch(fctx, "w", processing.ProviderCache(fctx), 10)
    rows = [_row(fctx, i) for i in ids]
    assert [(r.state, r.outcome) for r in rows] == [("approved", "allow"), ("rejected", "remove")]


def test_a_person_agreeing_with_a_per_label_auto_outcome_is_no_override(fctx: Context) -> None:
    from signoff.domain.states import Role
    from signoff.services import review, users

    moderation = """
name: posts
labels: [ok, spam]
ai: {provider: fake}
routing: {threshold: 0.99}
review: {outcomes: [allow, remove], reject_outcomes: [remove], auto_outcome: allow,
         auto_outcomes: {spam: remove}}
"""
    workflow_service.apply_workflow(fctx, moderation, "test")
    user_id = users.add_user(fctx, "mod@example.com", Role.REVIEWER)
    moderator = users.Principal(user_id, "mod@example.com", Role.REVIEWER)
    answers = {}
    for label, outcome in (("spam", "remove"), ("spam", "allow"), ("ok", "remove")):
        item_id = intake.submit_item(
            fctx, "posts", intake.NewItem(content={"label": label, "confidence": 0.9}), "t"
        ).item_id
        processing.process_batch(fctx, "w", processing.ProviderCache(fctx), 10)
        task = review.claim_next_task(fctx, moderator, "posts")
        assert task is not None and task.item_id == item_id
        review.decide(fctx, moderator, task.id, review.DecisionInput(outcome=outcome))
        answers[(label, outcome)] = _row(fctx, item_id).override
    # Removing spam is what the AI's answer meant; allowing it, or removing an ok post, is not.
    assert answers == {("spam", "remove"): False, ("spam", "allow"): True, ("ok", "remove"): True}
