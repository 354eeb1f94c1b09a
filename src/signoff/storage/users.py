"""Queries on users, API keys and sign-in attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from signoff.storage import tables as t


def read_user_by_email(session: Session, email: str) -> Any | None:
    return session.execute(sa.select(t.users).where(t.users.c.email == email)).first()


def read_user(session: Session, user_id: int) -> Any | None:
    return session.execute(sa.select(t.users).where(t.users.c.id == user_id)).first()


def list_users(session: Session) -> list[Any]:
    return list(session.execute(sa.select(t.users).order_by(t.users.c.email)))


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


def read_api_key_by_prefix(session: Session, prefix: str) -> Any | None:
    return session.execute(sa.select(t.api_keys).where(t.api_keys.c.prefix == prefix)).first()


def list_api_keys(session: Session) -> list[Any]:
    query = (
        sa.select(t.api_keys, t.users.c.email)
        .select_from(t.api_keys.outerjoin(t.users, t.users.c.id == t.api_keys.c.user_id))
        .order_by(t.api_keys.c.id)
    )
    return list(session.execute(query))


def update_api_key(session: Session, key_id: int, values: dict[str, Any]) -> None:
    session.execute(sa.update(t.api_keys).where(t.api_keys.c.id == key_id).values(**values))


def create_login_attempt(session: Session, values: dict[str, Any]) -> None:
    session.execute(sa.insert(t.login_attempts).values(**values))


def count_failed_logins(session: Session, email: str, since: datetime) -> int:
    return int(
        session.execute(
            sa.select(sa.func.count()).where(
                t.login_attempts.c.email == email,
                t.login_attempts.c.success.is_(False),
                t.login_attempts.c.attempted_at >= since,
            )
        ).scalar_one()
    )
