"""Reviewer groups and their members (users with optional skills)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from signoff.storage import engine, rows
from signoff.storage import tables as t


def create_group(
    session: Session, name: str, description: str | None, now: datetime, org_id: int
) -> int:
    insert = sa.insert(t.reviewer_groups).values(
        name=name, description=description, created_at=now, org_id=org_id
    )
    return int(session.execute(insert.returning(t.reviewer_groups.c.id)).scalar_one())


def read_group(session: Session, name: str) -> rows.GroupRow | None:
    return cast(
        "rows.GroupRow | None",
        session.execute(
            sa.select(t.reviewer_groups).where(t.reviewer_groups.c.name == name)
        ).first(),
    )


def list_groups(session: Session) -> list[rows.GroupRow]:
    return cast(
        "list[rows.GroupRow]",
        list(session.execute(sa.select(t.reviewer_groups).order_by(t.reviewer_groups.c.name))),
    )


def read_member(session: Session, group_id: int, user_id: int) -> Any | None:
    return session.execute(
        sa.select(t.group_members).where(
            t.group_members.c.group_id == group_id, t.group_members.c.user_id == user_id
        )
    ).first()


def create_member(
    session: Session, group_id: int, user_id: int, skills: list[str], now: datetime
) -> None:
    session.execute(
        sa.insert(t.group_members).values(
            group_id=group_id, user_id=user_id, skills=skills, created_at=now
        )
    )


def update_member_skills(session: Session, group_id: int, user_id: int, skills: list[str]) -> None:
    session.execute(
        sa.update(t.group_members)
        .where(t.group_members.c.group_id == group_id, t.group_members.c.user_id == user_id)
        .values(skills=skills)
    )


def delete_member(session: Session, group_id: int, user_id: int) -> int:
    result = session.execute(
        sa.delete(t.group_members).where(
            t.group_members.c.group_id == group_id, t.group_members.c.user_id == user_id
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def list_members(session: Session, name: str, *, active_only: bool = True) -> list[Any]:
    """The members of group `name` (user_id, email, role, workflows, org_id, skills), by email."""
    query = (
        sa.select(
            t.users.c.id.label("user_id"),
            t.users.c.org_id,
            t.users.c.email,
            t.users.c.role,
            t.users.c.display_name,
            t.users.c.workflows,
            t.group_members.c.skills,
        )
        .select_from(
            t.group_members.join(
                t.reviewer_groups, t.reviewer_groups.c.id == t.group_members.c.group_id
            ).join(t.users, t.users.c.id == t.group_members.c.user_id)
        )
        .where(t.reviewer_groups.c.name == name)
        .order_by(t.users.c.email)
    )
    if active_only:
        query = query.where(t.users.c.active.is_(True))
    return list(session.execute(query))


def list_user_groups(session: Session, user_id: int) -> list[str]:
    """The names of the groups `user_id` belongs to."""
    rows = session.execute(
        sa.select(t.reviewer_groups.c.name)
        .select_from(
            t.group_members.join(
                t.reviewer_groups, t.reviewer_groups.c.id == t.group_members.c.group_id
            )
        )
        .where(t.group_members.c.user_id == user_id)
        .order_by(t.reviewer_groups.c.name)
    )
    return [row.name for row in rows]


def lock_cursor(session: Session, group: str, now: datetime) -> int | None:
    """The member `group` last gave a task to, its row locked until commit (created if new).

    Every assignment within a group takes this lock first, so workers assigning at the
    same time see each other's choices (the cap and the turn order hold).
    """
    c = t.assignment_cursors.c
    dialect = engine.dialect_name(session)
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(t.assignment_cursors)
    session.execute(
        insert.values(group_name=group, last_user_id=None, updated_at=now).on_conflict_do_nothing()
    )
    query = sa.select(c.last_user_id).where(c.group_name == group)
    if dialect == "postgresql":
        query = query.with_for_update()
    value = session.execute(query).scalar_one()
    return int(value) if value is not None else None


def update_cursor(session: Session, group: str, user_id: int, now: datetime) -> None:
    session.execute(
        sa.update(t.assignment_cursors)
        .where(t.assignment_cursors.c.group_name == group)
        .values(last_user_id=user_id, updated_at=now)
    )
