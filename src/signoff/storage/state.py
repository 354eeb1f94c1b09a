"""The one function that changes an item's state, and its event-only sibling.

Every change is a guarded UPDATE (the item must still be in the expected state and,
for workers, still leased to them), the audit event that records it, and any outbox
rows — all in the caller's transaction. The audit head an event chains on is read in
that same transaction (rows locked on PostgreSQL; SQLite serialises writers), so an
event that only moves the head — a person viewing the item — never voids a
worker's result; the update is still guarded on that head, so a chain cannot fork.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from signoff.domain import audit as audit_rules
from signoff.domain import errors
from signoff.domain.states import ItemState, OutboxStatus, check_transition
from signoff.storage import audit, engine, rollups
from signoff.storage import tables as t


@dataclass
class OutboxMessage:
    kind: str
    payload: dict[str, Any]
    target: str | None = None
    workflow_id: int | None = None


@dataclass
class StateChange:
    """Move one item from `expected` to `target` (None: record an event, keep the state)."""

    item_id: int
    expected: ItemState | None
    target: ItemState | None
    event: audit_rules.EventKind
    actor: str
    data: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    outbox: list[OutboxMessage] = field(default_factory=list)
    lease_owner: str | None = None
    #: The item's audit head (seq, hash) when the caller read it in this transaction
    #: (with the row locked); leave None to have it read here.
    head: tuple[int, str] | None = None


def set_item_state(session: Session, change: StateChange, now: datetime) -> None:
    """Apply one change or raise StateConflict (or LeaseLost)."""
    applied = set_item_states(session, [change], now)
    if not applied:
        if change.lease_owner is not None:
            raise errors.LeaseLost(item_id=change.item_id)
        raise errors.StateConflict(item_id=change.item_id)


def append_item_event(
    session: Session,
    item_id: int,
    event: audit_rules.EventKind,
    actor: str,
    data: dict[str, Any],
    now: datetime,
    outbox: Sequence[OutboxMessage] = (),
    head: tuple[int, str] | None = None,
) -> bool:
    """Record an event (and the messages it causes) on an item's chain, state unchanged.

    `head`: as StateChange.head. False on conflict.
    """
    change = StateChange(
        item_id=item_id,
        expected=None,
        target=None,
        event=event,
        actor=actor,
        data=data,
        outbox=list(outbox),
        head=head,
    )
    return bool(set_item_states(session, [change], now))


def set_item_states(
    session: Session, changes: Sequence[StateChange], now: datetime
) -> list[StateChange]:
    """Apply many changes in one go; return those applied, skipping conflicting ones."""
    if not changes:
        return []
    for change in changes:
        if change.target is not None:
            assert change.expected is not None
            check_transition(change.expected, change.target)
    _fill_heads(session, changes)
    candidates = [c for c in changes if c.head is not None]
    new_heads: dict[int, tuple[int, str]] = {}
    key = audit.chain_key(session)
    event_rows: list[dict[str, Any]] = []
    for change in candidates:
        assert change.head is not None
        data = dict(change.data)
        if change.target is not None:
            data.setdefault("from", change.expected.value if change.expected else None)
            data.setdefault("to", change.target.value)
        rows, new_heads[change.item_id] = audit.build_rows(
            audit_rules.item_chain(change.item_id),
            change.head,
            [audit.PendingEvent(change.item_id, change.event, change.actor, data)],
            now,
            key=key,
        )
        event_rows.extend(rows)
    applied = _guarded_update(session, candidates, new_heads, now)
    applied_ids = {c.item_id for c in applied}
    audit.insert_rows(session, [r for r in event_rows if r["item_id"] in applied_ids])
    outbox_rows = [
        {
            "kind": m.kind,
            "item_id": c.item_id,
            "workflow_id": m.workflow_id,
            "target": m.target,
            "message_id": f"msg_{uuid.uuid4().hex}",
            "payload": m.payload,
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for c in applied
        for m in c.outbox
    ]
    if outbox_rows:
        session.execute(sa.insert(t.outbox), outbox_rows)
    # The dashboard's counters move with the change that causes them, or not at all.
    rollups.record(
        session,
        [c.item_id for c in applied if c.values.get("decided_at") is not None],
        [c.item_id for c in applied if c.values.get("routed_at") is not None],
    )
    return applied


def _fill_heads(session: Session, changes: Sequence[StateChange]) -> None:
    # Sorted: every transaction that locks several items locks them in id order.
    missing = sorted({c.item_id for c in changes if c.head is None})
    if not missing:
        return
    heads: dict[int, tuple[int, str]] = {}
    lock = engine.dialect_name(session) == "postgresql"
    for start in range(0, len(missing), 500):
        chunk = missing[start : start + 500]
        query = (
            sa.select(t.items.c.id, t.items.c.audit_seq, t.items.c.audit_hash)
            .where(t.items.c.id.in_(chunk))
            .order_by(t.items.c.id)
        )
        if lock:
            # Hold the heads until commit: a concurrent append waits, then reads ours.
            query = query.with_for_update()
        rows = session.execute(query)
        heads.update({r.id: (r.audit_seq, r.audit_hash) for r in rows})
    for change in changes:
        if change.head is None:
            change.head = heads.get(change.item_id)


def _guarded_update(
    session: Session,
    changes: Sequence[StateChange],
    new_heads: dict[int, tuple[int, str]],
    now: datetime,
) -> list[StateChange]:
    # executemany needs one statement shape per batch, so group by what is set and guarded.
    groups: dict[tuple[Any, ...], list[StateChange]] = defaultdict(list)
    for c in changes:
        shape = (
            c.target is not None,
            c.expected is not None,
            c.lease_owner is not None,
            tuple(sorted(c.values)),
        )
        groups[shape].append(c)
    applied: list[StateChange] = []
    items = t.items
    for (has_target, has_expected, leased, value_keys), group in groups.items():
        where = [items.c.id == sa.bindparam("_id"), items.c.audit_seq == sa.bindparam("_seq")]
        if has_expected:
            where.append(items.c.state == sa.bindparam("_expected"))
        if leased:
            # A lease that ran out is lost even before another worker reclaims it.
            where.append(items.c.lease_owner == sa.bindparam("_owner"))
            where.append(items.c.lease_expires_at >= sa.bindparam("_now"))
        sets: dict[str, Any] = {
            "audit_seq": sa.bindparam("_new_seq"),
            "audit_hash": sa.bindparam("_new_hash"),
            "updated_at": sa.bindparam("_now"),
        }
        if has_target:
            sets["state"] = sa.bindparam("_target")
        for key in value_keys:
            sets[key] = sa.bindparam(f"v_{key}")
        statement = sa.update(items).where(*where).values(sets)
        params = []
        for c in group:
            assert c.head is not None
            p: dict[str, Any] = {
                "_id": c.item_id,
                "_seq": c.head[0],
                "_new_seq": new_heads[c.item_id][0],
                "_new_hash": new_heads[c.item_id][1],
                "_now": now,
            }
            if has_expected:
                assert c.expected is not None
                p["_expected"] = c.expected.value
            if has_target:
                assert c.target is not None
                p["_target"] = c.target.value
            if leased:
                p["_owner"] = c.lease_owner
            for key, value in c.values.items():
                p[f"v_{key}"] = value
            params.append(p)
        touched = engine.rowcount(session.execute(statement, params))
        if touched == len(params):
            applied.extend(group)
        elif touched > 0:
            applied.extend(_which_applied(session, group, new_heads))
    return applied


def _which_applied(
    session: Session, group: Sequence[StateChange], new_heads: dict[int, tuple[int, str]]
) -> list[StateChange]:
    """After a partial executemany, find the rows now at the head we wrote."""
    ids = [c.item_id for c in group]
    rows = session.execute(
        sa.select(t.items.c.id, t.items.c.audit_hash).where(t.items.c.id.in_(ids))
    )
    at_head = {r.id for r in rows if r.audit_hash == new_heads[r.id][1]}
    return [c for c in group if c.item_id in at_head]
