"""SLA timers: remind, escalate, then decide by default the review tasks nobody answers.

A sweep (run by every worker, every `timers.interval_seconds`) reads each
workflow's `review.sla` and, for its pending tasks, fires the timers whose time
has come since the task was created, in chain order: reminder, escalation (notify
the lead group; with `reassign_on_escalation`, hand the task to it and release
the assignee), and the default outcome on timeout. A timer fires once however
many workers sweep: its column (`reminded_at`, `escalated_at`, `timed_out_at`) is
set by a guarded update in the same transaction as the audit event that records
it (with the rule that fired) and the notifications it causes. All times come
from the context's clock and all state is in the database, so a restart loses
nothing and a late sweep catches up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from signoff.domain import audit as audit_rules
from signoff.domain import errors
from signoff.domain.review_ops import NotifyEvent, SlaSpec
from signoff.services import notifications, review
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.storage import engine, items, state
from signoff.storage import timers as queries
from signoff.storage.timers import Timer

log = logging.getLogger(__name__)

#: Who the audit trail says fired a reminder or an escalation, and who decided on timeout.
ACTOR = "system:timers"
TIMEOUT_ACTOR = "system:timeout"

_RULES = {
    Timer.REMIND: ("sla.remind_after", "remind_after"),
    Timer.ESCALATE: ("sla.escalate_after", "escalate_after"),
    Timer.TIMEOUT: ("sla.on_timeout", "on_timeout"),
}
_EVENTS = {
    Timer.REMIND: (audit_rules.EventKind.REMINDED, NotifyEvent.TASK_REMINDER),
    Timer.ESCALATE: (audit_rules.EventKind.ESCALATED, NotifyEvent.TASK_ESCALATED),
    Timer.TIMEOUT: (audit_rules.EventKind.TIMED_OUT, NotifyEvent.TASK_TIMED_OUT),
}


@dataclass
class SweepResult:
    """How many timers of each kind one sweep fired, and the items it decided."""

    fired: dict[Timer, int] = field(default_factory=lambda: dict.fromkeys(Timer, 0))
    decided_items: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.fired.values())


def sweep(ctx: Context) -> SweepResult:
    """Fire every due timer of every workflow with an SLA (at most a batch per timer)."""
    now = ctx.clock.now()
    result = SweepResult()
    batch = ctx.settings.timers.batch_size
    for view in workflow_service.list_workflows(ctx):
        sla = view.spec.review.sla
        if sla is None:
            continue
        for timer in Timer:
            delay = sla.timer(_RULES[timer][1])
            if delay is None:
                continue
            try:
                if timer is Timer.TIMEOUT:
                    decided = _time_out(ctx, view, sla, delay, now, batch)
                    result.fired[timer] += len(decided)
                    result.decided_items.extend(decided)
                else:
                    result.fired[timer] += _fire_batch(ctx, view, sla, timer, delay, now, batch)
            except Exception:  # one workflow's trouble never stops the others' timers
                log.exception("action=timers_failed workflow=%s timer=%s", view.name, timer.name)
    if result.decided_items:
        ctx.bus.publish("items_decided", {"item_ids": result.decided_items})
    if result.total:
        log.info(
            "action=timers_fired reminded=%s escalated=%s timed_out=%s",
            result.fired[Timer.REMIND],
            result.fired[Timer.ESCALATE],
            result.fired[Timer.TIMEOUT],
        )
    return result


def _due_task_ids(
    session: Session,
    view: workflow_service.WorkflowView,
    sla: SlaSpec,
    timer: Timer,
    delay: timedelta,
    now: datetime,
    limit: int,
) -> list[int]:
    """The tasks `timer` is due on, in chain order: the earlier configured timer fired first."""
    chain = list(Timer)
    earlier = [t for t in chain[: chain.index(timer)] if sla.timer(_RULES[t][1]) is not None]
    return queries.list_due_task_ids(
        session, view.id, timer, now - delay, limit, after=earlier[-1] if earlier else None
    )


def _event_data(sla: SlaSpec, timer: Timer, row: Any, delay: timedelta) -> dict[str, Any]:
    rule, name = _RULES[timer]
    after = sla.on_timeout.after if timer is Timer.TIMEOUT and sla.on_timeout else None
    data: dict[str, Any] = {
        "task_id": row.id,
        "rule": rule,
        "after": after if after is not None else getattr(sla, name),
        "due_since": (row.created_at + delay).isoformat(),
    }
    if timer is Timer.ESCALATE:
        data.update(escalate_to=sla.escalate_to, reassigned=sla.reassign_on_escalation)
        if sla.reassign_on_escalation:
            data["released"] = row.assignee_email
            data["previous_group"] = row.group_name
    if timer is Timer.TIMEOUT and sla.on_timeout is not None:
        data.update(outcome=sla.on_timeout.outcome, comment=sla.on_timeout.comment)
    return data


def _messages(
    session: Session,
    ctx: Context,
    view: workflow_service.WorkflowView,
    event: NotifyEvent,
    row: Any,
    now: datetime,
    data: dict[str, Any],
) -> list[state.OutboxMessage]:
    """The notifications of one firing; a rule that cannot be built never blocks the timer."""
    try:
        return notifications.messages_for(
            session,
            ctx,
            event,
            spec=view.spec,
            workflow_id=view.id,
            task_id=row.id,
            item_id=row.item_id,
            now=now,
            data=data,
        )
    except errors.SignoffError as exc:
        log.warning("action=timer_notify_failed task_id=%s error=%s", row.id, exc.detail)
        data["notify_error"] = exc.detail
        return []


def _fire_batch(
    ctx: Context,
    view: workflow_service.WorkflowView,
    sla: SlaSpec,
    timer: Timer,
    delay: timedelta,
    now: datetime,
    limit: int,
) -> int:
    """Fire one batch of reminders or escalations in one transaction; how many fired."""
    kind, event = _EVENTS[timer]
    reassign = timer is Timer.ESCALATE and sla.reassign_on_escalation
    with engine.transaction(ctx.sessions) as session:
        ids = _due_task_ids(session, view, sla, timer, delay, now, limit)
        # One event per item per transaction: a second task of the same item waits a sweep.
        rows: dict[int, Any] = {}
        for row in queries.list_tasks_with_items(session, ids):
            rows.setdefault(row.item_id, row)
        extra: dict[str, Any] = {"escalated": True} if timer is Timer.ESCALATE else {}
        if reassign:
            assert sla.escalate_to is not None
            extra = queries.release_to_group(extra, sla.escalate_to)
        fired = queries.fire(session, [r.id for r in rows.values()], timer, now, extra)
        changes = []
        for row in rows.values():
            if row.id not in fired:
                continue
            data = _event_data(sla, timer, row, delay)
            changes.append(
                state.StateChange(
                    item_id=row.item_id,
                    expected=None,
                    target=None,
                    event=kind,
                    actor=ACTOR,
                    data=data,
                    outbox=_messages(session, ctx, view, event, row, now, data),
                )
            )
        applied = state.set_item_states(session, changes, now)
        if len(applied) != len(changes):
            # Item heads are locked (PostgreSQL) or the writer is alone (SQLite), so this
            # means something unexpected: undo the whole batch rather than fire unrecorded.
            raise errors.StateConflict("an item changed while its timer fired; retrying")
    if reassign and fired:
        ctx.bus.publish("tasks_created", {"count": len(fired), "escalated": sorted(fired)})
    return len(fired)


def _time_out(
    ctx: Context,
    view: workflow_service.WorkflowView,
    sla: SlaSpec,
    delay: timedelta,
    now: datetime,
    limit: int,
) -> list[int]:
    """Decide a batch of due tasks with the default outcome; the items decided.

    One transaction and a few statements for the whole batch; should anything in it
    fail, the batch is done again task by task (a savepoint each), so one task that
    cannot be decided never holds back the others.
    """
    try:
        decided = _time_out_batch(ctx, view, sla, delay, now, limit)
    except Exception:
        log.exception("action=timeout_batch_failed workflow=%s (one by one)", view.name)
        decided = _time_out_each(ctx, view, sla, delay, now, limit)
    for item_id in decided:
        log.info("action=task_timed_out item_id=%s", item_id)
    return decided


def _time_out_batch(
    ctx: Context,
    view: workflow_service.WorkflowView,
    sla: SlaSpec,
    delay: timedelta,
    now: datetime,
    limit: int,
) -> list[int]:
    assert sla.on_timeout is not None
    outcome, comment = sla.on_timeout.outcome, sla.on_timeout.comment
    kind = audit_rules.EventKind.TIMED_OUT
    with engine.transaction(ctx.sessions) as session:
        ids = _due_task_ids(session, view, sla, Timer.TIMEOUT, delay, now, limit)
        rows: dict[int, Any] = {}
        for row in queries.list_tasks_with_items(session, ids):
            rows.setdefault(row.item_id, row)  # one task per item per transaction
        fired = queries.fire(session, [r.id for r in rows.values()], Timer.TIMEOUT, now)
        found = {
            i.id: i for i in items.list_items_by_id(session, [r.item_id for r in rows.values()])
        }
        events, due = [], []
        for row in rows.values():
            if row.id not in fired:
                continue
            item = found[row.item_id]
            spec = workflow_service.get_spec(ctx, item.workflow_id, item.workflow_version)
            data = _event_data(sla, Timer.TIMEOUT, row, delay)
            if outcome in spec.review.outcomes:
                messages = _messages(session, ctx, view, NotifyEvent.TASK_TIMED_OUT, row, now, data)
                due.append((row, item, spec))
            else:
                # Not an outcome of the version the item ran under: record that the timer
                # fired, undecided, so it is seen and not retried every sweep.
                data.update(error=f"outcome: {outcome!r} is not one of {spec.review.outcomes}")
                data["decided"] = False
                messages = []
            events.append(
                state.StateChange(
                    row.item_id, None, None, kind, TIMEOUT_ACTOR, data, outbox=messages
                )
            )
        _apply_all(session, events, now)
        decisions = []
        for row, item, spec in due:
            change = review.system_decision(
                session,
                ctx,
                row,
                item,
                spec,
                outcome=outcome,
                comment=comment,
                actor=TIMEOUT_ACTOR,
                now=now,
            )
            if change is None:
                raise errors.StateConflict(item_id=row.item_id)
            change.head = None  # the timed_out event just moved it
            decisions.append(change)
        _apply_all(session, decisions, now)
    return [c.item_id for c in decisions]


def _apply_all(session: Session, changes: list[state.StateChange], now: datetime) -> None:
    """Apply every change or raise (rolling the batch back): rows are locked, so none may miss."""
    if len(state.set_item_states(session, changes, now)) != len(changes):
        raise errors.StateConflict("an item changed while its timer fired; retrying")


def _time_out_each(
    ctx: Context,
    view: workflow_service.WorkflowView,
    sla: SlaSpec,
    delay: timedelta,
    now: datetime,
    limit: int,
) -> list[int]:
    decided: list[int] = []
    failed: list[tuple[Any, str]] = []
    with engine.transaction(ctx.sessions) as session:
        ids = _due_task_ids(session, view, sla, Timer.TIMEOUT, delay, now, limit)
        for row in queries.list_tasks_with_items(session, ids):
            try:
                with session.begin_nested():
                    if _time_out_one(session, ctx, view, sla, row, delay, now):
                        decided.append(int(row.item_id))
            except errors.StateConflict:
                log.warning("action=timeout_conflict task_id=%s (retried next sweep)", row.id)
            except errors.SignoffError as exc:
                log.warning("action=timeout_failed task_id=%s error=%s", row.id, exc.detail)
                failed.append((row, exc.detail))
        for row, error in failed:
            with session.begin_nested():
                _record_failed_timeout(session, sla, row, delay, now, error)
    return decided


def _time_out_one(
    session: Session,
    ctx: Context,
    view: workflow_service.WorkflowView,
    sla: SlaSpec,
    row: Any,
    delay: timedelta,
    now: datetime,
) -> bool:
    assert sla.on_timeout is not None
    if not queries.fire(session, [row.id], Timer.TIMEOUT, now):
        return False  # decided, cancelled or timed out by another worker meanwhile
    item = items.read_item(session, row.item_id)
    assert item is not None
    spec = workflow_service.get_spec(ctx, item.workflow_id, item.workflow_version)
    data = _event_data(sla, Timer.TIMEOUT, row, delay)
    messages = _messages(session, ctx, view, NotifyEvent.TASK_TIMED_OUT, row, now, data)
    kind = audit_rules.EventKind.TIMED_OUT
    if not state.append_item_event(
        session, row.item_id, kind, TIMEOUT_ACTOR, data, now, outbox=messages
    ):
        raise errors.StateConflict(item_id=row.item_id)
    return review.decide_as_system(
        session,
        ctx,
        row,
        item,
        spec,
        outcome=sla.on_timeout.outcome,
        comment=sla.on_timeout.comment,
        actor=TIMEOUT_ACTOR,
        now=now,
    )


def _record_failed_timeout(
    session: Session, sla: SlaSpec, row: Any, delay: timedelta, now: datetime, error: str
) -> None:
    if not queries.fire(session, [row.id], Timer.TIMEOUT, now):
        return
    data = {**_event_data(sla, Timer.TIMEOUT, row, delay), "error": error, "decided": False}
    kind = audit_rules.EventKind.TIMED_OUT
    if not state.append_item_event(session, row.item_id, kind, TIMEOUT_ACTOR, data, now):
        raise errors.StateConflict(item_id=row.item_id)
