"""SLA timers on SQLite and PostgreSQL, driven by the injectable clock (never by sleeps).

A task nobody answers is reminded, escalated (handed to the lead group) and decided
by default, each step audited with the rule that fired; timers fire once however
many workers sweep at the same moment, survive a restart, and are bounded per sweep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from signoff.clock import FrozenClock
from signoff.domain.states import Role
from signoff.services import audit as audit_service
from signoff.services import intake, processing, review, timers, users
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.settings import Settings
from signoff.storage import audit
from signoff.storage import tables as t
from signoff.storage.timers import Timer
from signoff.workers.runner import WorkerPool
from tests.conftest import make_settings

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
UNSURE = {"text": "an invoice?", "label": "invoice", "confidence": 0.4}

SLA_WORKFLOW = """
name: invoices
labels: [invoice, other]
ai: {provider: fake, retries: 0}
routing: {threshold: 0.9}
review:
  outcomes: [approved, rejected]
  sla: {due_in: 4h, remind_after: 1h, escalate_after: 8h, escalate_to: leads,
        reassign_on_escalation: true,
        on_timeout: {after: 24h, outcome: rejected, comment: "no decision in 24 h"}}
delivery: {webhook_url: "http://127.0.0.1:9/decisions"}
"""


def _context(url: str, clock: FrozenClock, **overrides: Any) -> Context:
    return create_context(make_settings(url, **overrides), clock=clock)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def tctx(db_url: str, clock: FrozenClock) -> Iterator[Context]:
    context = _context(db_url, clock)
    workflow_service.apply_workflow(context, SLA_WORKFLOW, "test")
    yield context
    context.close()


def _submit(ctx: Context, n: int, workflow: str = "invoices") -> list[int]:
    ids = [
        intake.submit_item(ctx, workflow, intake.NewItem(content=UNSURE), "test").item_id
        for _ in range(n)
    ]
    providers = processing.ProviderCache(ctx)
    while processing.process_batch(ctx, "test", providers, 500):
        pass
    return ids


def _task(ctx: Context, item_id: int) -> Any:
    with ctx.sessions() as session:
        return session.execute(
            sa.select(t.review_tasks).where(t.review_tasks.c.item_id == item_id)
        ).one()


def _item(ctx: Context, item_id: int) -> Any:
    with ctx.sessions() as session:
        return session.execute(sa.select(t.items).where(t.items.c.id == item_id)).one()


def _events(ctx: Context, item_id: int, *kinds: str) -> list[Any]:
    with ctx.sessions() as session:
        return [e for e in audit.list_item_events(session, item_id) if e.type in kinds]


TIMER_KINDS = ("reminded", "escalated", "timed_out")


def test_unanswered_task_is_reminded_escalated_then_decided_by_default_each_audited(
    tctx: Context, clock: FrozenClock
) -> None:
    reviewer = users.add_user(tctx, "rev@example.com", Role.REVIEWER)
    (item_id,) = _submit(tctx, 1)
    task_id = _task(tctx, item_id).id
    principal = users.principal_for_user(tctx, reviewer)
    assert principal is not None
    review.claim_task(tctx, principal, task_id)

    clock.advance(minutes=59)
    assert timers.sweep(tctx).total == 0
    clock.advance(minutes=1)
    fired = timers.sweep(tctx)
    assert fired.fired[Timer.REMIND] == 1 and fired.total == 1
    (reminded,) = _events(tctx, item_id, "reminded")
    assert reminded.actor == "system:timers"
    assert reminded.data["rule"] == "sla.remind_after" and reminded.data["after"] == "1h"
    assert reminded.data["task_id"] == task_id
    assert _task(tctx, item_id).reminded_at == START + timedelta(hours=1)
    assert _task(tctx, item_id).assignee_id == reviewer  # a reminder changes no hands
    assert timers.sweep(tctx).total == 0  # once

    clock.advance(hours=7)
    assert timers.sweep(tctx).fired[Timer.ESCALATE] == 1
    (escalated,) = _events(tctx, item_id, "escalated")
    assert escalated.data["rule"] == "sla.escalate_after" and escalated.data["after"] == "8h"
    assert escalated.data["escalate_to"] == "leads" and escalated.data["reassigned"] is True
    assert escalated.data["released"] == "rev@example.com"
    task = _task(tctx, item_id)
    assert (task.status, task.assignee_id, task.group_name) == ("open", None, "leads")
    assert task.escalated is True and task.escalated_at == START + timedelta(hours=8)
    assert timers.sweep(tctx).total == 0

    clock.advance(hours=15, minutes=59)
    assert timers.sweep(tctx).total == 0
    clock.advance(minutes=1)
    result = timers.sweep(tctx)
    assert result.fired[Timer.TIMEOUT] == 1 and result.decided_items == [item_id]
    (timed_out,) = _events(tctx, item_id, "timed_out")
    assert timed_out.actor == "system:timeout" and timed_out.data["rule"] == "sla.on_timeout"
    assert timed_out.data["outcome"] == "rejected" and timed_out.data["after"] == "24h"
    (decided,) = _events(tctx, item_id, "decided")
    assert decided.actor == "system:timeout" and decided.data["default_outcome"] is True
    assert (decided.data["from"], decided.data["to"]) == ("in_review", "rejected")
    item = _item(tctx, item_id)
    assert (item.state, item.outcome, item.decided_by) == ("rejected", "rejected", "system:timeout")
    assert item.comment == "no decision in 24 h" and item.override is None
    task = _task(tctx, item_id)
    assert (task.status, task.outcome) == ("decided", "rejected")
    assert task.timed_out_at == START + timedelta(hours=24)
    kinds = [e.type for e in _events(tctx, item_id, *TIMER_KINDS, "decided")]
    assert kinds == ["reminded", "escalated", "timed_out", "decided"]
    with tctx.sessions() as session:
        hooks = list(
            session.execute(sa.select(t.outbox).where(t.outbox.c.item_id == item_id)).all()
        )
    assert [(h.kind, h.payload["data"]["decided_by"]) for h in hooks] == [
        ("webhook", "system:timeout")
    ]
    assert timers.sweep(tctx).total == 0
    checked, problems = audit_service.verify_all(tctx)
    assert checked and not problems, problems


def test_a_task_decided_in_time_fires_no_timer(tctx: Context, clock: FrozenClock) -> None:
    admin = users.add_user(tctx, "admin@example.com", Role.ADMIN)
    (item_id,) = _submit(tctx, 1)
    principal = users.principal_for_user(tctx, admin)
    assert principal is not None
    review.decide(tctx, principal, _task(tctx, item_id).id, review.DecisionInput("approved"))
    clock.advance(days=2)
    assert timers.sweep(tctx).total == 0
    assert _events(tctx, item_id, *TIMER_KINDS) == []
    assert _item(tctx, item_id).decided_by == "user:admin@example.com"


def test_a_late_sweep_catches_up_through_the_chain_in_order(
    tctx: Context, clock: FrozenClock
) -> None:
    (item_id,) = _submit(tctx, 1)
    clock.advance(days=3)  # the workers were down for three days
    result = timers.sweep(tctx)
    assert [result.fired[t] for t in Timer] == [1, 1, 1]
    kinds = [e.type for e in _events(tctx, item_id, *TIMER_KINDS, "decided")]
    assert kinds == ["reminded", "escalated", "timed_out", "decided"]


def test_timers_survive_a_restart_and_do_not_fire_again(
    db_url: str, tctx: Context, clock: FrozenClock
) -> None:
    (item_id,) = _submit(tctx, 1)
    clock.advance(hours=2)
    assert timers.sweep(tctx).fired[Timer.REMIND] == 1
    tctx.close()
    restarted = _context(db_url, clock)  # a new process: nothing in memory carries over
    try:
        assert timers.sweep(restarted).total == 0
        clock.advance(hours=6)
        assert timers.sweep(restarted).fired == {
            Timer.REMIND: 0,
            Timer.ESCALATE: 1,
            Timer.TIMEOUT: 0,
        }
        assert len(_events(restarted, item_id, "reminded")) == 1
    finally:
        restarted.close()


def test_two_workers_sweeping_at_once_fire_every_timer_exactly_once(
    db_url: str, tctx: Context, clock: FrozenClock
) -> None:
    ids = _submit(tctx, 40)
    clock.advance(days=2)
    workers = [_context(db_url, clock, timers={"batch_size": 15}) for _ in range(2)]
    barrier = threading.Barrier(len(workers))
    failures: list[BaseException] = []

    def run(ctx: Context) -> None:
        try:
            barrier.wait(10)
            while timers.sweep(ctx).total:
                pass
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        for w in workers:
            w.close()
    assert not failures, failures
    with tctx.sessions() as session:
        counts = session.execute(
            sa.select(t.audit_events.c.type, sa.func.count())
            .where(t.audit_events.c.type.in_([*TIMER_KINDS, "decided"]))
            .group_by(t.audit_events.c.type)
        ).all()
        hooks = session.execute(sa.select(sa.func.count()).select_from(t.outbox)).scalar()
    assert dict(counts) == {kind: len(ids) for kind in (*TIMER_KINDS, "decided")}
    assert hooks == len(ids)  # one decision webhook each: no item was decided twice
    for item_id in ids:
        kinds = [e.type for e in _events(tctx, item_id, *TIMER_KINDS, "decided")]
        assert kinds == ["reminded", "escalated", "timed_out", "decided"], item_id
    checked, problems = audit_service.verify_all(tctx)
    assert checked and not problems, problems


def test_one_sweep_fires_at_most_a_batch_of_each_timer(db_url: str, clock: FrozenClock) -> None:
    ctx = _context(db_url, clock, timers={"batch_size": 5})
    try:
        workflow_service.apply_workflow(ctx, SLA_WORKFLOW, "test")
        _submit(ctx, 12)
        clock.advance(hours=2)
        assert [timers.sweep(ctx).fired[Timer.REMIND] for _ in range(4)] == [5, 5, 2, 0]
    finally:
        ctx.close()


def test_an_outcome_the_item_cannot_take_is_recorded_once_and_others_still_time_out(
    tctx: Context, clock: FrozenClock
) -> None:
    (old_item,) = _submit(tctx, 1)
    # Version 2 adds an outcome and times out to it; the item of version 1 cannot take it.
    newer = SLA_WORKFLOW.replace("[approved, rejected]", "[approved, rejected, expired]")
    newer = newer.replace("outcome: rejected", "outcome: expired")
    workflow_service.apply_workflow(tctx, newer, "test")
    (new_item,) = _submit(tctx, 1)
    clock.advance(days=2)
    result = timers.sweep(tctx)
    assert result.decided_items == [new_item]
    assert _item(tctx, new_item).outcome == "expired"
    assert _item(tctx, old_item).state == "in_review"
    (failed,) = _events(tctx, old_item, "timed_out")
    assert failed.data["decided"] is False and "expired" in failed.data["error"]
    assert _task(tctx, old_item).status == "open" and _task(tctx, old_item).timed_out_at
    assert timers.sweep(tctx).total == 0  # recorded, not retried every sweep


def test_the_workers_run_the_timer_sweep(db_url: str, clock: FrozenClock) -> None:
    settings: Settings = make_settings(
        db_url, timers={"interval_seconds": 0.05}, worker={"retrain": False}
    )
    ctx = create_context(settings, clock=clock)
    pool = WorkerPool(ctx, concurrency=1, sender=False)
    try:
        workflow_service.apply_workflow(ctx, SLA_WORKFLOW, "test")
        (item_id,) = _submit(ctx, 1)
        pool.start()
        clock.advance(hours=1)
        deadline = time.monotonic() + 30
        while not _events(ctx, item_id, "reminded") and time.monotonic() < deadline:
            time.sleep(0.05)  # polling for progress, bounded by the deadline
        assert len(_events(ctx, item_id, "reminded")) == 1
        assert "signoff-timers" not in pool.dead_threads()
    finally:
        pool.stop()
        ctx.close()


def test_a_failing_timeout_batch_is_done_again_task_by_task(
    tctx: Context, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _submit(tctx, 3)

    def broken(*_args: Any) -> list[int]:
        raise RuntimeError("the batch path broke")

    monkeypatch.setattr(timers, "_time_out_batch", broken)
    clock.advance(days=2)
    assert sorted(timers.sweep(tctx).decided_items) == ids
    for item_id in ids:
        assert [e.type for e in _events(tctx, item_id, "timed_out", "decided")] == [
            "timed_out",
            "decided",
        ]


def test_each_firing_carries_the_notifications_its_rules_ask_for(
    tctx: Context, clock: FrozenClock
) -> None:
    notified = SLA_WORKFLOW + (
        "notify:\n"
        "  - {channel: email, to: assignee, on: [task.reminder]}\n"
        "  - {channel: slack, webhook_url_env: SIGNOFF_CREDENTIAL_SLACK_URL,"
        " on: [task.escalated, task.timed_out]}\n"
    )
    workflow_service.apply_workflow(tctx, notified, "test")
    reviewer = users.add_user(tctx, "rev@example.com", Role.REVIEWER)
    (item_id,) = _submit(tctx, 1)
    principal = users.principal_for_user(tctx, reviewer)
    assert principal is not None
    review.claim_task(tctx, principal, _task(tctx, item_id).id)
    for hours in (1, 7, 16):
        clock.advance(hours=hours)
        timers.sweep(tctx)
    with tctx.sessions() as session:
        rows = list(
            session.execute(
                sa.select(t.outbox).where(t.outbox.c.item_id == item_id).order_by(t.outbox.c.id)
            )
        )
    sent = [(r.kind, r.target, r.payload.get("type")) for r in rows if r.kind != "webhook"]
    assert sent == [
        ("notify.email", "rev@example.com", "task.reminder"),
        ("notify.slack", "SIGNOFF_CREDENTIAL_SLACK_URL", "task.escalated"),
        ("notify.slack", "SIGNOFF_CREDENTIAL_SLACK_URL", "task.timed_out"),
    ]
    escalated = next(r.payload for r in rows if r.payload.get("type") == "task.escalated")
    assert escalated["task"]["group"] == "leads" and escalated["task"]["assignee"] is None
    # The payload's data.rule is the notify rule's index; the SLA rule is in the event.
    assert escalated["data"]["after"] == "8h" and escalated["data"]["escalate_to"] == "leads"
