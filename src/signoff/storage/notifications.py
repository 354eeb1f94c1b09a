"""Action links, notification preferences and digest entries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from signoff.storage import engine
from signoff.storage import tables as t


def create_action_link(session: Session, values: dict[str, Any]) -> int:
    insert = sa.insert(t.action_links).values(**values).returning(t.action_links.c.id)
    return int(session.execute(insert).scalar_one())


def read_action_link(session: Session, link_id: int) -> Any | None:
    return session.execute(sa.select(t.action_links).where(t.action_links.c.id == link_id)).first()


def use_action_link(session: Session, link_id: int, now: datetime) -> bool:
    """Mark a link used, if nobody used it before (the guard that makes it single-use)."""
    result = session.execute(
        sa.update(t.action_links)
        .where(t.action_links.c.id == link_id, t.action_links.c.used_at.is_(None))
        .values(used_at=now)
    )
    return engine.rowcount(result) == 1


def release_action_link(session: Session, link_id: int, used_at: datetime) -> None:
    """Give back a link whose use changed nothing (the form was refused before deciding)."""
    session.execute(
        sa.update(t.action_links)
        .where(t.action_links.c.id == link_id, t.action_links.c.used_at == used_at)
        .values(used_at=None)
    )


def read_preferences(session: Session, user_id: int) -> Any | None:
    return session.execute(
        sa.select(t.notification_preferences).where(t.notification_preferences.c.user_id == user_id)
    ).first()


def list_digest_minutes(session: Session, user_ids: Sequence[int]) -> dict[int, int]:
    """user_id -> digest minutes, for those of `user_ids` who chose a digest."""
    if not user_ids:
        return {}
    p = t.notification_preferences.c
    rows = session.execute(
        sa.select(p.user_id, p.digest_minutes).where(
            p.user_id.in_(list(user_ids)), p.digest_minutes > 0
        )
    )
    return {r.user_id: r.digest_minutes for r in rows}


def upsert_preferences(session: Session, user_id: int, digest_minutes: int, now: datetime) -> None:
    p = t.notification_preferences.c
    updated = session.execute(
        sa.update(t.notification_preferences)
        .where(p.user_id == user_id)
        .values(digest_minutes=digest_minutes, updated_at=now)
    )
    if engine.rowcount(updated) == 0:
        session.execute(
            sa.insert(t.notification_preferences).values(
                user_id=user_id, digest_minutes=digest_minutes, updated_at=now
            )
        )


def create_digest_entries(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(sa.insert(t.digest_entries), rows)


def list_digest_users(session: Session) -> list[Any]:
    """Users with digest entries waiting: user_id, digest_minutes, digest_sent_at, oldest."""
    d, p = t.digest_entries.c, t.notification_preferences.c
    query = (
        sa.select(
            d.user_id,
            sa.func.min(d.created_at).label("oldest"),
            p.digest_minutes,
            p.digest_sent_at,
        )
        .select_from(t.digest_entries.outerjoin(t.notification_preferences, p.user_id == d.user_id))
        .where(d.digested_at.is_(None))
        .group_by(d.user_id, p.digest_minutes, p.digest_sent_at)
        .order_by(d.user_id)
    )
    return list(session.execute(query))


def take_digest_turn(session: Session, user_id: int, now: datetime, due_before: datetime) -> bool:
    """Claim this user's digest round: only one process wins a round (guarded update)."""
    p = t.notification_preferences.c
    result = session.execute(
        sa.update(t.notification_preferences)
        .where(
            p.user_id == user_id,
            sa.or_(p.digest_sent_at.is_(None), p.digest_sent_at <= due_before),
        )
        .values(digest_sent_at=now)
    )
    return engine.rowcount(result) == 1


def take_digest_entries(session: Session, user_id: int, now: datetime) -> list[Any]:
    """The user's waiting entries, now marked digested (oldest first)."""
    d = t.digest_entries.c
    rows = list(
        session.execute(
            sa.select(t.digest_entries)
            .where(d.user_id == user_id, d.digested_at.is_(None))
            .order_by(d.id)
        )
    )
    if rows:
        session.execute(
            sa.update(t.digest_entries)
            .where(d.id.in_([r.id for r in rows]))
            .values(digested_at=now)
        )
    return rows


def create_outbox_message(session: Session, values: dict[str, Any]) -> None:
    """An outbox row not tied to an item's state change (a digest email)."""
    session.execute(sa.insert(t.outbox).values(**values))
