"""Retention: purge decided items' payload after `retain_content_for`, unless on legal hold.

A purge replaces the content and metadata by a marker holding the content's sha256 and
appends a `content_purged` event. Audit events hold event data, never the content, so
every chain still verifies; decisions, predictions and the trail stay.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from signoff.domain import audit as audit_rules
from signoff.domain import compliance, errors
from signoff.services import items as item_service
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.services.users import Principal
from signoff.storage import engine, items, state

log = logging.getLogger(__name__)


def purge_decided(
    ctx: Context, workflow_id: int, retention: timedelta, actor: str, *, batch_size: int
) -> int:
    """Purge the content of a workflow's items decided longer than `retention` ago."""
    purged = 0
    while True:
        now = ctx.clock.now()
        with engine.transaction(ctx.sessions) as session:
            rows = items.list_purgeable(session, workflow_id, now - retention, batch_size)
            changes = [_purge_change(r, actor, now) for r in rows]
            # A concurrent hold (or any event) moves the item's head: that purge is skipped.
            applied = state.set_item_states(session, changes, now)
            purged += len(applied)
        if len(rows) < batch_size or len(applied) < len(rows):
            return purged


def purge_due(ctx: Context, actor: str) -> int:
    """Purge, in every workflow with `retain_content_for`, the items whose time has come."""
    total = 0
    for view in workflow_service.list_workflows(ctx):
        retention = view.spec.retention()
        if retention is None:
            continue
        count = purge_decided(
            ctx, view.id, retention, actor, batch_size=ctx.settings.worker.retention_batch_size
        )
        if count:
            log.info("action=content_purged workflow=%s count=%s", view.name, count)
        total += count
    return total


def _purge_change(row: Any, actor: str, now: Any) -> state.StateChange:
    digest = row.content_hash or compliance.content_hash(row.content)
    return state.StateChange(
        item_id=row.id,
        expected=None,
        target=None,
        event=audit_rules.EventKind.CONTENT_PURGED,
        actor=actor,
        data={"content_sha256": digest, "reason": "retain_content_for"},
        values={
            "content": compliance.purged_marker(digest, now.isoformat()),
            "metadata": {"_purged": True},
            "content_hash": digest,
            "content_purged_at": now,
        },
    )


def set_hold(
    ctx: Context,
    item_id: int,
    actor: str,
    *,
    hold: bool,
    reason: str | None = None,
    principal: Principal | None = None,
) -> dict[str, Any]:
    """Put an item on legal hold (retention leaves it alone) or release it; audited.

    With `principal` (API callers), an item of a workflow it may not see is not found.
    """
    row = item_service.get_item_row(ctx, item_id)
    if principal is not None:
        item_service.check_access(ctx, principal, row)
    if hold and row.legal_hold_at is not None:
        return hold_public(row)
    if not hold and row.legal_hold_at is None:
        raise errors.InvalidTransition(f"item {item_id} is not on legal hold")
    now = ctx.clock.now()
    values: dict[str, Any] = (
        {"legal_hold_at": now, "legal_hold_by": actor}
        if hold
        else {"legal_hold_at": None, "legal_hold_by": None}
    )
    event = (
        audit_rules.EventKind.LEGAL_HOLD_SET if hold else audit_rules.EventKind.LEGAL_HOLD_RELEASED
    )
    with engine.transaction(ctx.sessions) as session:
        state.set_item_state(
            session,
            state.StateChange(
                item_id=item_id,
                expected=None,
                target=None,
                event=event,
                actor=actor,
                data={"reason": reason} if reason else {},
                values=values,
                head=(row.audit_seq, row.audit_hash),
            ),
            now,
        )
    return hold_public(item_service.get_item_row(ctx, item_id))


def hold_public(row: Any) -> dict[str, Any]:
    return {
        "item_id": row.id,
        "legal_hold": row.legal_hold_at is not None,
        "held_at": row.legal_hold_at.isoformat() if row.legal_hold_at else None,
        "held_by": row.legal_hold_by,
        "content_purged_at": row.content_purged_at.isoformat() if row.content_purged_at else None,
    }
