"""Queries on users, API keys and sign-in attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from signoff.storage import engine, rows
from signoff.storage import tables as t


def read_user_by_email(session: Session, email: str) -> rows.UserRow | None:
    return cast(
        "rows.UserRow | None",
        session.execute(sa.select(t.users).where(t.users.c.email == email)).first(),
    )


def read_user(session: Session, user_id: int) -> rows.UserRow | None:
    return cast(
        "rows.UserRow | None",
        session.execute(sa.select(t.users).where(t.users.c.id == user_id)).first(),
    )


def list_users(session: Session) -> list[rows.UserRow]:
    return cast(
        "list[rows.UserRow]", list(session.execute(sa.select(t.users).order_by(t.users.c.email)))
    )


def create_user(session: Session, values: dict[str, Any]) -> int:
    return int(
        session.execute(sa.insert(t.users).values(**values).returning(t.users.c.id)).scalar_one()
    )


def update_user(session: Session, user_id: int, values: dict[str, Any]) -> None:
    session.execute(sa.update(t.users).where(t.users.c.id == user_id).values(**values))


def create_api_key(session: Session, values: dict[str, Any]) -> int:
    return int(
        session.execute(
            sa.insert(t.api_keys).values(**values).returning(t.api_keys.c.id)
        ).scalar_one()
    )


def read_api_key(session: Session, key_id: int) -> rows.ApiKeyRow | None:
    return cast(
        "rows.ApiKeyRow | None",
        session.execute(sa.select(t.api_keys).where(t.api_keys.c.id == key_id)).first(),
    )


def read_api_key_with_user(session: Session, prefix: str) -> Any | None:
    """An API key's row and its user's (`user_email`, `user_role`, `user_active`,
    `user_workflows`; None for a service key) in one statement, as every request needs."""
    u = t.users.c
    query = sa.select(
        t.api_keys,
        u.email.label("user_email"),
        u.role.label("user_role"),
        u.active.label("user_active"),
        u.workflows.label("user_workflows"),
    ).select_from(t.api_keys.outerjoin(t.users, u.id == t.api_keys.c.user_id))
    return session.execute(query.where(t.api_keys.c.prefix == prefix)).first()


def list_api_keys(session: Session) -> list[Any]:
    query = (
        sa.select(t.api_keys, t.users.c.email, t.users.c.role)
        .select_from(t.api_keys.outerjoin(t.users, t.users.c.id == t.api_keys.c.user_id))
        .order_by(t.api_keys.c.id)
    )
    return list(session.execute(query))


def update_api_key(session: Session, key_id: int, values: dict[str, Any]) -> None:
    session.execute(sa.update(t.api_keys).where(t.api_keys.c.id == key_id).values(**values))


def touch_api_key(session: Session, key_id: int, now: datetime, unless_since: datetime) -> int:
    """Set `last_used_at`, unless it is already at or after `unless_since` (rows touched)."""
    keys = t.api_keys
    result = session.execute(
        sa.update(keys)
        .where(
            keys.c.id == key_id,
            sa.or_(keys.c.last_used_at.is_(None), keys.c.last_used_at < unless_since),
        )
        .values(last_used_at=now)
    )
    return engine.rowcount(result)


def create_user_session(session: Session, values: dict[str, Any]) -> int:
    return int(
        session.execute(
            sa.insert(t.user_sessions).values(**values).returning(t.user_sessions.c.id)
        ).scalar_one()
    )


def read_session_user(session: Session, token_hash: str, since: datetime) -> rows.UserRow | None:
    """The active user behind a live (not revoked, created after `since`) session."""
    s, u = t.user_sessions, t.users
    query = (
        sa.select(u)
        .select_from(s.join(u, u.c.id == s.c.user_id))
        .where(
            s.c.token_hash == token_hash,
            s.c.revoked_at.is_(None),
            s.c.created_at >= since,
            u.c.active.is_(True),
        )
    )
    return cast("rows.UserRow | None", session.execute(query).first())


def revoke_user_session(session: Session, token_hash: str, now: datetime) -> None:
    s = t.user_sessions
    session.execute(
        sa.update(s)
        .where(s.c.token_hash == token_hash, s.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_user_sessions(session: Session, user_id: int, now: datetime) -> int:
    """End every live session of a user (rows touched)."""
    s = t.user_sessions
    result = session.execute(
        sa.update(s).where(s.c.user_id == user_id, s.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return engine.rowcount(result)


def bump_login_throttle(session: Session, key: str, now: datetime, window_start: datetime) -> int:
    """Count one attempt against `key` in one atomic statement; the count in this window.

    A counter whose window began before `window_start` starts over at 1. Concurrent
    callers serialise on the row, so each sees a distinct count.
    """
    table = t.login_throttles
    insert = postgresql.insert if engine.dialect_name(session) == "postgresql" else sqlite.insert
    expired = table.c.window_start < window_start
    statement = (
        insert(table)
        .values(key=key, window_start=now, attempts=1)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "attempts": sa.case((expired, 1), else_=table.c.attempts + 1),
                "window_start": sa.case((expired, now), else_=table.c.window_start),
            },
        )
        .returning(table.c.attempts)
    )
    return int(session.execute(statement).scalar_one())


def forget_login_throttle(session: Session, key: str) -> None:
    session.execute(sa.delete(t.login_throttles).where(t.login_throttles.c.key == key))


def refund_login_throttle(session: Session, key: str) -> None:
    """Take back one counted attempt (a successful sign-in does not count as a failure)."""
    table = t.login_throttles
    session.execute(
        sa.update(table)
        .where(table.c.key == key, table.c.attempts > 0)
        .values(attempts=table.c.attempts - 1)
    )


def create_login_attempt(session: Session, values: dict[str, Any]) -> None:
    session.execute(sa.insert(t.login_attempts).values(**values))
