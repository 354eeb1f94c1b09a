"""Queries on review tasks; claims are guarded so no task reaches two reviewers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from signoff.domain.states import TaskStatus
from signoff.storage import engine
from signoff.storage import tables as t


def create_tasks(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(sa.insert(t.review_tasks), rows)


def read_task(session: Session, task_id: int) -> Any | None:
    return session.execute(sa.select(t.review_tasks).where(t.review_tasks.c.id == task_id)).first()


def list_tasks_for_item(session: Session, item_id: int) -> list[Any]:
    return list(
        session.execute(
            sa.select(t.review_tasks)
            .where(t.review_tasks.c.item_id == item_id)
            .order_by(t.review_tasks.c.id)
        )
    )


def read_assigned_task(
    session: Session, user_id: int, workflow_ids: list[int] | None
) -> Any | None:
    query = sa.select(t.review_tasks).where(
        t.review_tasks.c.assignee_id == user_id,
        t.review_tasks.c.status == TaskStatus.ASSIGNED.value,
    )
    if workflow_ids is not None:
        query = query.where(t.review_tasks.c.workflow_id.in_(workflow_ids))
    return session.execute(query.order_by(t.review_tasks.c.id).limit(1)).first()


def list_open_task_ids(
    session: Session,
    workflow_ids: list[int] | None,
    limit: int = 20,
    exclude: Sequence[int] = (),
    lapsed_before: datetime | None = None,
) -> list[int]:
    """Tasks to offer next, due first: open ones and, with `lapsed_before`, lapsed holds."""
    c = t.review_tasks.c
    takeable = c.status == TaskStatus.OPEN.value
    if lapsed_before is not None:
        lapsed = sa.and_(c.status == TaskStatus.ASSIGNED.value, c.assigned_at < lapsed_before)
        takeable = sa.or_(takeable, lapsed)
    query = sa.select(t.review_tasks.c.id).where(takeable)
    if workflow_ids is not None:
        query = query.where(t.review_tasks.c.workflow_id.in_(workflow_ids))
    if exclude:
        query = query.where(t.review_tasks.c.id.not_in(list(exclude)))
    query = query.order_by(
        t.review_tasks.c.due_at.is_(None), t.review_tasks.c.due_at, t.review_tasks.c.id
    ).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # Lock one row only: concurrent claimers skip locked rows, so locking a whole
        # page would tell every other reviewer that nothing is waiting.
        query = query.limit(1).with_for_update(skip_locked=True)
    return [int(r) for r in session.execute(query).scalars()]


def take_task(
    session: Session, task_id: int, user_id: int, now: datetime, lapsed_before: datetime
) -> bool:
    """Guarded: assign an open task, or one whose hold lapsed, to `user_id`; False otherwise."""
    c = t.review_tasks.c
    result = session.execute(
        sa.update(t.review_tasks)
        .where(
            c.id == task_id,
            sa.or_(
                c.status == TaskStatus.OPEN.value,
                sa.and_(
                    c.status == TaskStatus.ASSIGNED.value,
                    c.assigned_at < lapsed_before,
                    c.assignee_id != user_id,
                ),
            ),
        )
        .values(status=TaskStatus.ASSIGNED.value, assignee_id=user_id, assigned_at=now)
    )
    return engine.rowcount(result) == 1


def release_task(session: Session, task_id: int, user_id: int) -> bool:
    """Guarded: hand an assigned task back to the queue; False unless `user_id` held it."""
    result = session.execute(
        sa.update(t.review_tasks)
        .where(
            t.review_tasks.c.id == task_id,
            t.review_tasks.c.status == TaskStatus.ASSIGNED.value,
            t.review_tasks.c.assignee_id == user_id,
        )
        .values(status=TaskStatus.OPEN.value, assignee_id=None, assigned_at=None)
    )
    return engine.rowcount(result) == 1


def decide_task(session: Session, task_id: int, values: dict[str, Any]) -> bool:
    """Guarded: only an open or assigned task can be decided; False if already decided."""
    result = session.execute(
        sa.update(t.review_tasks)
        .where(
            t.review_tasks.c.id == task_id,
            t.review_tasks.c.status.in_([TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value]),
        )
        .values(status=TaskStatus.DECIDED.value, **values)
    )
    return engine.rowcount(result) == 1


def cancel_tasks_for_item(session: Session, item_id: int) -> None:
    session.execute(
        sa.update(t.review_tasks)
        .where(
            t.review_tasks.c.item_id == item_id,
            t.review_tasks.c.status.in_([TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value]),
        )
        .values(status=TaskStatus.CANCELLED.value)
    )
