"""Reading items as the API shows them, listing, cancelling, archiving, waiting, audit trails."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from signoff.domain import audit as audit_rules
from signoff.domain import errors
from signoff.domain.states import DECIDED_STATES, FINAL_STATES, OPEN_STATES, ItemState
from signoff.services import assignment, oversight
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.services.users import Principal
from signoff.storage import audit, engine, items, rows, state, tasks, users, workflows

log = logging.getLogger(__name__)


def get_item_row(ctx: Context, item_id: int) -> rows.ItemRow:
    with ctx.sessions() as session:
        row = items.read_item(session, item_id)
    if row is None:
        raise errors.ItemNotFound(f"no item {item_id}", item_id=item_id)
    return row


def check_access(
    ctx: Context, principal: Principal, row: rows.ItemRow, session: Session | None = None
) -> str:
    name = workflow_service.workflow_name(ctx, row.workflow_id, session)
    # A gold item is no application's: to a service key it does not exist.
    if not principal.may_access(name) or oversight.hides_item(principal, row):
        raise errors.ItemNotFound(f"no item {row.id}", item_id=row.id)
    return name


def item_public(row: rows.ItemRow, workflow: str) -> dict[str, Any]:
    """The item as the API and SDK see it."""
    prediction = None
    if row.prediction is not None:
        p = row.prediction
        prediction = {
            "label": p.get("label"),
            "confidence": p.get("confidence"),
            "entities": p.get("entities") or [],
            "model": p.get("model"),
            "model_version": p.get("model_version"),
            "scores": p.get("scores") or {},
            "confidence_method": p.get("confidence_method"),
            "error": p.get("error"),
            "explanation": p.get("explanation"),
        }
    route = None
    if row.route is not None:
        route = {"route": row.route, "reasons": row.route_reasons or [], "threshold": row.threshold}
    decision = None
    if row.decided_at is not None:
        decision = {
            "outcome": row.outcome,
            "labels": row.final_labels or ([row.final_label] if row.final_label else []),
            "fields": row.final_fields or {},
            "label": row.final_label,
            "entities": row.final_entities or [],
            "decided_by": row.decided_by,
            "comment": row.comment,
            "decided_at": row.decided_at.isoformat(),
            "override": row.override,
        }
    return {
        "id": row.id,
        "workflow": workflow,
        "workflow_version": row.workflow_version,
        "external_id": row.external_id,
        "state": row.state,
        "content": row.content,
        "metadata": row.metadata,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "prediction": prediction,
        "route": route,
        "decision": decision,
    }


def get_item(ctx: Context, principal: Principal, item_id: int) -> dict[str, Any]:
    return public_view(ctx, principal, get_item_row(ctx, item_id))


def public_view(
    ctx: Context, principal: Principal, row: rows.ItemRow, session: Session | None = None
) -> dict[str, Any]:
    """The item (a row already read) as this caller may see it, or ItemNotFound."""
    name = check_access(ctx, principal, row, session)
    return oversight.view_item(principal, row, item_public(row, name))


def list_items(
    ctx: Context,
    principal: Principal,
    *,
    workflow: str | None,
    state_filter: str | None,
    cursor: int | None,
    limit: int,
    **filters: Any,
) -> tuple[list[dict[str, Any]], int | None]:
    workflow_id = None
    if workflow is not None:
        view = workflow_service.get_workflow(ctx, workflow)
        if not principal.may_access(view.name):
            # The answer a missing workflow gets, so existence does not leak.
            raise errors.WorkflowNotFound(f"no workflow named {workflow!r}", workflow=workflow)
        workflow_id = view.id
    if state_filter is not None and state_filter not in {s.value for s in ItemState}:
        raise errors.ValidationFailed(
            f"state: must be one of {[s.value for s in ItemState]}", field="state"
        )
    with ctx.sessions() as session:
        rows = items.list_items(
            session,
            workflow_id=workflow_id,
            state=state_filter,
            after_id=cursor,
            limit=limit + 1,
            **filters,
        )
    names: dict[int, str] = {}
    out = []
    for row in rows[:limit]:
        if row.workflow_id not in names:
            names[row.workflow_id] = workflow_service.workflow_name(ctx, row.workflow_id)
        if principal.may_access(names[row.workflow_id]):
            out.append(
                oversight.view_item(principal, row, item_public(row, names[row.workflow_id]))
            )
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return out, next_cursor


#: How often a cancel re-reads an item the worker moved meanwhile before giving up.
CANCEL_ATTEMPTS = 5


def cancel_item(
    ctx: Context, principal: Principal, item_id: int, reason: str | None
) -> dict[str, Any]:
    """Cancel an open item; its open review tasks close with it.

    The worker may move the item between the read and the guarded write (queued →
    in review): the intent still holds, so the cancel reads the item again and
    retries rather than answer 409 for a change the caller could not see.
    """
    for attempt in range(CANCEL_ATTEMPTS):
        row = get_item_row(ctx, item_id)
        name = check_access(ctx, principal, row)
        current = ItemState(row.state)
        if current not in OPEN_STATES:
            raise errors.InvalidTransition(
                f"item {item_id} is {current.value}; only open items can be cancelled"
            )
        try:
            with engine.transaction(ctx.sessions) as session:
                state.set_item_state(
                    session,
                    state.StateChange(
                        item_id=item_id,
                        expected=current,
                        target=ItemState.CANCELLED,
                        event=audit_rules.EventKind.CANCELLED,
                        actor=principal.actor,
                        data={"reason": reason},
                        values={"lease_owner": None, "lease_expires_at": None},
                    ),
                    ctx.clock.now(),
                )
                tasks.cancel_tasks_for_item(session, item_id)
        except errors.StateConflict:
            if attempt == CANCEL_ATTEMPTS - 1:
                raise
            continue
        break
    ctx.bus.publish("items_decided", {"item_ids": [item_id]})
    return item_public(get_item_row(ctx, item_id), name)


def archive_item(ctx: Context, principal: Principal, item_id: int) -> dict[str, Any]:
    """Archive one decided item now; InvalidTransition when it is not decided."""
    row = get_item_row(ctx, item_id)
    name = check_access(ctx, principal, row)
    current = ItemState(row.state)
    if current not in DECIDED_STATES:
        raise errors.InvalidTransition(
            f"item {item_id} is {current.value}; only decided items can be archived",
            source=current.value,
            target=ItemState.ARCHIVED.value,
        )
    with engine.transaction(ctx.sessions) as session:
        state.set_item_state(
            session, _archive_change(item_id, current, principal.actor), ctx.clock.now()
        )
    return item_public(get_item_row(ctx, item_id), name)


def archive_decided(
    ctx: Context, workflow_id: int, older_than: timedelta, actor: str, *, batch_size: int
) -> int:
    """Archive a workflow's items decided more than `older_than` ago; returns how many."""
    cutoff = ctx.clock.now() - older_than
    archived = 0
    while True:
        with engine.transaction(ctx.sessions) as session:
            rows = items.list_archivable(session, workflow_id, cutoff, batch_size)
            changes = [_archive_change(r.id, ItemState(r.state), actor) for r in rows]
            # Items another process archived or changed meanwhile are skipped, not errors.
            archived += len(state.set_item_states(session, changes, ctx.clock.now()))
        if len(rows) < batch_size:
            return archived


def archive_due(ctx: Context, actor: str) -> int:
    """Archive, in every workflow with `archive_after`, the items whose time has come."""
    total = 0
    for view in workflow_service.list_workflows(ctx):
        age = view.spec.archive_age()
        if age is None:
            continue
        count = archive_decided(
            ctx, view.id, age, actor, batch_size=ctx.settings.worker.archive_batch_size
        )
        if count:
            log.info("action=items_archived workflow=%s count=%s", view.name, count)
        total += count
    return total


def _archive_change(item_id: int, current: ItemState, actor: str) -> state.StateChange:
    return state.StateChange(
        item_id=item_id,
        expected=current,
        target=ItemState.ARCHIVED,
        event=audit_rules.EventKind.ARCHIVED,
        actor=actor,
    )


def record_view(ctx: Context, principal: Principal, item_id: int) -> None:
    """Note in the audit trail that a person opened the item."""
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        state.append_item_event(
            session, item_id, audit_rules.EventKind.VIEWED, principal.actor, {}, now
        )


def is_settled(row: rows.ItemRow) -> bool:
    return ItemState(row.state) in FINAL_STATES


def item_events(ctx: Context, principal: Principal, item_id: int) -> dict[str, Any]:
    row = get_item_row(ctx, item_id)
    check_access(ctx, principal, row)
    with ctx.sessions() as session:
        events = audit.list_item_events(session, item_id)
        task_rows = tasks.list_tasks_for_item(session, item_id)
    trail = trail_of(row, events, task_rows, (row.audit_seq, row.audit_hash), ctx.audit_keys)
    return oversight.trail_for(principal, row, trail)


def trail_of(
    row: Any,
    events: list[Any],
    task_rows: list[Any],
    head: tuple[int, str],
    keyring: audit_rules.Keyring,
) -> dict[str, Any]:
    """The item's audit events, checked against its chain head, and its review tasks."""
    item_id = row.id
    problems = audit_rules.verify_chain(
        audit_rules.item_chain(item_id), events, head=head, item_id=item_id, keys=keyring.secrets
    )
    return {
        "item_id": item_id,
        "verified": not problems,
        "problems": [p.describe() for p in problems],
        "events": [
            {
                "id": e.id,
                "seq": e.seq,
                "type": e.type,
                "actor": e.actor,
                "data": e.data,
                "created_at": e.created_at.isoformat(),
                "hash": e.hash,
                "prev_hash": e.prev_hash,
            }
            for e in events
        ],
        "tasks": [
            {
                "id": tk.id,
                "status": tk.status,
                "assignee_id": tk.assignee_id,
                "due_at": tk.due_at.isoformat() if tk.due_at else None,
            }
            for tk in task_rows
        ],
    }


@dataclass(frozen=True)
class ItemPage:
    """Everything the item page shows, read together."""

    row: Any
    workflow: str
    item: dict[str, Any]
    trail: dict[str, Any]
    task_rows: list[Any]
    #: Email of each user holding or having held one of the item's tasks.
    emails: dict[int, str]
    #: Shown without the AI's suggestion (a blind item, read by a reviewer).
    blind: bool = False


def open_item_page(
    ctx: Context, principal: Principal, item_id: int, *, record_view: bool
) -> ItemPage:
    """The item, its trail and its tasks in one transaction, noting the view when asked.

    The item row is read once; its audit head, read with it, chains the `viewed`
    event, which the trail then includes. Without a view to record this is a read.
    """
    now = ctx.clock.now()
    with _page_session(ctx, record_view) as session:
        row = items.read_item(session, item_id)
        workflow = workflows.read_workflow_by_id(session, row.workflow_id) if row else None
        if (
            row is None
            or workflow is None
            or not principal.may_access(workflow.name)
            or oversight.hides_item(principal, row)
        ):
            raise errors.ItemNotFound(f"no item {item_id}", item_id=item_id)
        head = (row.audit_seq, row.audit_hash)
        recorded = False
        if record_view:
            viewed = state.StateChange(
                item_id=item_id,
                expected=None,
                target=None,
                event=audit_rules.EventKind.VIEWED,
                actor=principal.actor,
                head=head,
            )
            # A concurrent change moved the head (PostgreSQL): chain onto the new one.
            recorded = bool(state.set_item_states(session, [viewed], now)) or (
                state.append_item_event(
                    session, item_id, audit_rules.EventKind.VIEWED, principal.actor, {}, now
                )
            )
        events = audit.list_item_events(session, item_id)
        if recorded and events:
            # The head this transaction just wrote: the event it appended.
            head = (events[-1].seq, events[-1].hash)
        task_rows = tasks.list_tasks_for_item(session, item_id)
        if recorded:
            spec = workflow_service.get_spec(ctx, row.workflow_id, row.workflow_version)
            assignment.touch_held(session, ctx, task_rows, spec, principal.user_id, now)
            task_rows = tasks.list_tasks_for_item(session, item_id)
        holders = {tk.assignee_id for tk in task_rows if tk.assignee_id is not None}
        emails = {u.id: u.email for u in users.list_users(session) if u.id in holders}
    trail = trail_of(row, events, task_rows, head, ctx.audit_keys)
    blind = oversight.hides_suggestion(principal, row)
    return ItemPage(
        row=row,
        workflow=str(workflow.name),
        item=oversight.view_item(principal, row, item_public(row, str(workflow.name))),
        trail=oversight.trail_for(principal, row, trail),
        task_rows=task_rows,
        emails=emails,
        blind=blind,
    )


@contextmanager
def _page_session(ctx: Context, writes: bool) -> Iterator[Session]:
    """A write transaction when the page records a view, else a read session."""
    if writes:
        with engine.transaction(ctx.sessions) as session:
            yield session
    else:
        with ctx.sessions() as session:
            yield session
