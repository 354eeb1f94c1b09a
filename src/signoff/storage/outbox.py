"""Queries on the outbox and its delivery attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from signoff.domain.states import OutboxStatus
from signoff.storage import tables as t


def claim_due_messages(
    session: Session, now: datetime, lease_until: datetime, limit: int
) -> list[Any]:
    """Pending messages whose time has come, leased so no other sender takes them."""
    query = (
        sa.select(t.outbox)
        .where(
            t.outbox.c.status == OutboxStatus.PENDING.value,
            t.outbox.c.next_attempt_at <= now,
            sa.or_(t.outbox.c.lease_expires_at.is_(None), t.outbox.c.lease_expires_at < now),
        )
        .order_by(t.outbox.c.next_attempt_at, t.outbox.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.execute(query))
    if rows:
        session.execute(
            sa.update(t.outbox)
            .where(t.outbox.c.id.in_([r.id for r in rows]))
            .values(lease_expires_at=lease_until)
        )
    return rows


def update_message(session: Session, message_id: int, values: dict[str, Any]) -> None:
    session.execute(sa.update(t.outbox).where(t.outbox.c.id == message_id).values(**values))


def create_attempt(session: Session, values: dict[str, Any]) -> None:
    session.execute(sa.insert(t.delivery_attempts).values(**values))


def list_messages_for_item(session: Session, item_id: int) -> list[Any]:
    return list(
        session.execute(
            sa.select(t.outbox).where(t.outbox.c.item_id == item_id).order_by(t.outbox.c.id)
        )
    )


def list_attempts(session: Session, message_id: int) -> list[Any]:
    return list(
        session.execute(
            sa.select(t.delivery_attempts)
            .where(t.delivery_attempts.c.outbox_id == message_id)
            .order_by(t.delivery_attempts.c.id)
        )
    )
