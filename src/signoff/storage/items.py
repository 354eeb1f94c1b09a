"""Queries on items, including the lease-based claim workers use."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from signoff.domain.states import DECIDED_STATES, PURGEABLE_STATES, ItemState
from signoff.storage import engine, oversight, rollups, rows
from signoff.storage import tables as t


def allocate_ids(session: Session, count: int) -> list[int]:
    """Ids for `count` new items, taken before the insert so their first audit event
    can be hashed and written with them (one statement less per item)."""
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            sa.text(
                "SELECT nextval(pg_get_serial_sequence('items', 'id')) FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return [int(r[0]) for r in rows]
    # SQLite: the transaction began IMMEDIATE, so this writer alone holds the lock
    # and max(id) + 1 is exactly what SQLite would assign.
    top = session.execute(sa.select(sa.func.coalesce(sa.func.max(t.items.c.id), 0))).scalar_one()
    return list(range(int(top) + 1, int(top) + 1 + count))


def create_items(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert items (with their ids) in one executemany, and count them in the rollup."""
    session.execute(sa.insert(t.items), rows)
    # Gold items are no application's traffic: the dashboard does not count them.
    rollups.record_received(
        session,
        [(int(r["workflow_id"]), r["created_at"]) for r in rows if r.get("gold_label") is None],
    )


def lock_item(session: Session, item_id: int) -> None:
    """Hold the item's row until the transaction ends (PostgreSQL; SQLite serialises writers).

    Consensus votes on one item take it first, so the vote that completes the tally sees
    every other vote.
    """
    if engine.dialect_name(session) == "postgresql":
        session.execute(
            sa.select(t.items.c.id).where(t.items.c.id == item_id).with_for_update()
        ).first()


def read_item(session: Session, item_id: int, *, lock: bool = False) -> rows.ItemRow | None:
    """The item; `lock`: hold its row until the transaction ends (PostgreSQL; SQLite
    serialises writers), so its audit head stays the one read."""
    query = sa.select(t.items).where(t.items.c.id == item_id)
    if lock and engine.dialect_name(session) == "postgresql":
        query = query.with_for_update()
    return cast("rows.ItemRow | None", session.execute(query).first())


def list_items_by_idempotency_keys(
    session: Session, workflow_id: int, keys: list[str]
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for start in range(0, len(keys), 500):
        rows = session.execute(
            sa.select(t.items).where(
                t.items.c.workflow_id == workflow_id,
                t.items.c.idempotency_key.in_(keys[start : start + 500]),
            )
        )
        found.update({r.idempotency_key: r for r in rows})
    return found


def list_items(
    session: Session,
    *,
    workflow_id: int | None = None,
    state: str | None = None,
    after_id: int | None = None,
    limit: int = 50,
    label: str | None = None,
    decided_by: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> list[Any]:
    """Newest first; `after_id` is the cursor (items with a smaller id); never gold items."""
    query = (
        sa.select(t.items)
        .where(t.items.c.gold_label.is_(None))
        .order_by(t.items.c.id.desc())
        .limit(limit)
    )
    if workflow_id is not None:
        query = query.where(t.items.c.workflow_id == workflow_id)
    if state is not None:
        query = query.where(t.items.c.state == state)
    if after_id is not None:
        query = query.where(t.items.c.id < after_id)
    if label is not None:
        query = query.where(
            sa.or_(
                t.items.c.final_label == label,
                sa.and_(t.items.c.final_label.is_(None), t.items.c.ai_label == label),
            )
        )
    if decided_by is not None:
        query = query.where(t.items.c.decided_by == decided_by)
    if created_from is not None:
        query = query.where(t.items.c.created_at >= created_from)
    if created_to is not None:
        query = query.where(t.items.c.created_at < created_to)
    return list(session.execute(query))


def claim_items(
    session: Session, owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[Any]:
    """Items ready for the AI step: received, or processing with an expired lease.

    PostgreSQL skips rows other workers have locked; SQLite serialises writers, so
    the guarded update in set_item_states is enough there.
    """
    ready = sa.or_(
        t.items.c.state == ItemState.RECEIVED.value,
        sa.and_(
            t.items.c.state == ItemState.PROCESSING.value,
            t.items.c.lease_expires_at < now,
        ),
    )
    query = (
        sa.select(
            t.items.c.id,
            t.items.c.state,
            t.items.c.audit_seq,
            t.items.c.audit_hash,
            t.items.c.attempts,
            t.items.c.lease_owner,
        )
        .where(ready)
        .order_by(t.items.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.execute(query))


def extend_leases(
    session: Session, ids: list[int], owner: str, now: datetime, until: datetime
) -> int:
    """Push back the expiry of leases `owner` still holds (not a state change)."""
    result = session.execute(
        sa.update(t.items)
        .where(
            t.items.c.id.in_(ids),
            t.items.c.state == ItemState.PROCESSING.value,
            t.items.c.lease_owner == owner,
            t.items.c.lease_expires_at >= now,
        )
        .values(lease_expires_at=until)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def read_items_for_processing(session: Session, ids: list[int]) -> list[Any]:
    query = sa.select(
        t.items.c.id,
        t.items.c.workflow_id,
        t.items.c.workflow_version,
        t.items.c.content,
        t.items.c.metadata,
        t.items.c.audit_seq,
        t.items.c.audit_hash,
        t.items.c.external_id,
        t.items.c.gold_label,
    ).where(t.items.c.id.in_(ids))
    return list(session.execute(query))


def list_reviewed_confidences(session: Session, workflow_id: int) -> list[Any]:
    """(confidence, override) of every item a person decided after the AI gave a confidence,
    leaving out the decisions of reviewers flagged on the workflow."""
    decided = [ItemState.APPROVED.value, ItemState.REJECTED.value, ItemState.ARCHIVED.value]
    return list(
        session.execute(
            sa.select(t.items.c.confidence, t.items.c.override).where(
                t.items.c.workflow_id == workflow_id,
                t.items.c.route == "human",
                t.items.c.confidence.is_not(None),
                t.items.c.override.is_not(None),
                t.items.c.state.in_(decided),
                t.items.c.gold_label.is_(None),
                ~oversight.decided_by_flagged(t.items.c.decided_by, t.items.c.workflow_id),
            )
        )
    )


def count_decided_by_route(session: Session, workflow_id: int) -> dict[str, int]:
    query = (
        sa.select(t.items.c.route, sa.func.count())
        .where(t.items.c.workflow_id == workflow_id, t.items.c.decided_at.is_not(None))
        .group_by(t.items.c.route)
    )
    return {route: int(n) for route, n in session.execute(query)}


def list_outcomes(session: Session, ids: list[int]) -> list[Any]:
    """What the AI said and how each item ended, for evaluation replays."""
    return list(
        session.execute(
            sa.select(
                t.items.c.id,
                t.items.c.ai_label,
                t.items.c.confidence,
                t.items.c.route,
                t.items.c.final_label,
                t.items.c.prediction,
            )
            .where(t.items.c.id.in_(ids))
            .order_by(t.items.c.id)
        )
    )


def list_archivable(
    session: Session, workflow_id: int, decided_before: datetime, limit: int
) -> list[Any]:
    """Decided items of a workflow whose decision is older than `decided_before`, oldest first."""
    query = (
        sa.select(t.items.c.id, t.items.c.state)
        .where(
            t.items.c.workflow_id == workflow_id,
            t.items.c.state.in_([s.value for s in DECIDED_STATES]),
            t.items.c.decided_at < decided_before,
        )
        .order_by(t.items.c.decided_at, t.items.c.id)
        .limit(limit)
    )
    return list(session.execute(query))


def list_items_by_id(session: Session, ids: list[int]) -> list[rows.ItemRow]:
    """The items with these ids (any order; missing ones left out)."""
    if not ids:
        return []
    return cast(
        "list[rows.ItemRow]",
        list(session.execute(sa.select(t.items).where(t.items.c.id.in_(list(ids))))),
    )


def list_purgeable(
    session: Session, workflow_id: int, decided_before: datetime, limit: int
) -> list[Any]:
    """Decided items whose content is still stored, not on hold, decided before the cutoff."""
    query = (
        sa.select(t.items.c.id, t.items.c.content, t.items.c.content_hash)
        .where(
            t.items.c.workflow_id == workflow_id,
            t.items.c.decided_at < decided_before,
            t.items.c.state.in_([s.value for s in PURGEABLE_STATES]),
            t.items.c.content_purged_at.is_(None),
            t.items.c.legal_hold_at.is_(None),
        )
        .order_by(t.items.c.decided_at, t.items.c.id)
        .limit(limit)
    )
    return list(session.execute(query))


def list_decided_page(
    session: Session,
    workflow_id: int,
    *,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Any]:
    """One page of a workflow's decided items in (decided_at, id) order, keyset-paged.

    Gold items are left out: they test the reviewers and are no decision of the
    application's (their votes are in the item's own compliance record).
    """
    c = t.items.c
    where = [c.workflow_id == workflow_id, c.decided_at.is_not(None), c.gold_label.is_(None)]
    if since is not None:
        where.append(c.decided_at >= since)
    if until is not None:
        where.append(c.decided_at < until)
    if after is not None:
        where.append(
            sa.or_(c.decided_at > after[0], sa.and_(c.decided_at == after[0], c.id > after[1]))
        )
    query = (
        sa.select(
            c.id,
            c.external_id,
            c.state,
            c.workflow_version,
            c.content_hash,
            c.content,
            c.content_purged_at,
            c.ai_label,
            c.confidence,
            c.prediction,
            c.route,
            c.route_reasons,
            c.threshold,
            c.qa_sample,
            c.outcome,
            c.final_label,
            c.decided_by,
            c.decided_at,
            c.comment,
            c.override,
            c.created_at,
        )
        .where(*where)
        .order_by(c.decided_at, c.id)
        .limit(limit)
    )
    return list(session.execute(query))
