"""Queries of the SLA timer sweep: due tasks, and the guarded updates that fire a timer once.

Each due-task query is a range scan on one of migration 0005's partial indexes
(pending tasks whose timer has not fired, by workflow and creation time); the
condition on `status` is written exactly as in the index so the planner can use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from signoff.domain.states import TaskStatus
from signoff.storage import engine
from signoff.storage import tables as t


class Timer(StrEnum):
    """The SLA timers, in the order they fire; the value is the column that records it."""

    REMIND = "reminded_at"
    ESCALATE = "escalated_at"
    TIMEOUT = "timed_out_at"


def _pending() -> sa.TextClause:
    return sa.text(t.PENDING_SQL)


def list_due_task_ids(
    session: Session,
    workflow_id: int,
    timer: Timer,
    created_before: datetime,
    limit: int,
    *,
    after: Timer | None = None,
) -> list[int]:
    """Pending tasks of the workflow created before `created_before` whose timer has not fired.

    With `after`, only tasks on which that earlier timer has fired: the chain keeps its
    order even when a late sweep finds every timer due at once and another sweep holds
    the earlier timer's rows. Oldest first. On PostgreSQL the rows are locked and rows
    another sweep holds are skipped, so concurrent sweeps split the work instead of
    queueing on each other.
    """
    c = t.review_tasks.c
    query = sa.select(c.id).where(c.workflow_id == workflow_id, _pending())
    if timer is not Timer.TIMEOUT:
        # Decided tasks leave the pending set, so a timeout needs no column of its own here.
        query = query.where(c[timer.value].is_(None))
    if after is not None:
        query = query.where(c[after.value].is_not(None))
    query = query.where(c.created_at <= created_before).order_by(c.created_at, c.id).limit(limit)
    if engine.dialect_name(session) == "postgresql":
        query = query.with_for_update(of=t.review_tasks, skip_locked=True)
    return [int(i) for i in session.execute(query).scalars()]


def list_tasks_with_items(session: Session, task_ids: Sequence[int]) -> list[Any]:
    """The tasks with their item's columns a timer event and its messages need."""
    if not task_ids:
        return []
    rt, it = t.review_tasks.c, t.items.c
    query = (
        sa.select(
            t.review_tasks,
            it.state.label("item_state"),
            it.workflow_version,
            t.users.c.email.label("assignee_email"),
        )
        .join(t.items, it.id == rt.item_id)
        .outerjoin(t.users, t.users.c.id == rt.assignee_id)
        .where(rt.id.in_(list(task_ids)))
        .order_by(rt.id)
    )
    return list(session.execute(query))


def fire(
    session: Session,
    task_ids: Sequence[int],
    timer: Timer,
    now: datetime,
    values: dict[str, Any] | None = None,
) -> set[int]:
    """Guarded: record that `timer` fired on these pending tasks; the ids it was recorded on.

    A task another sweep fired first, or one decided meanwhile, is left out: this is
    what makes a timer fire once however many workers sweep.
    """
    if not task_ids:
        return set()
    c = t.review_tasks.c
    sets: dict[str, Any] = {timer.value: now, **(values or {})}
    statement = (
        sa.update(t.review_tasks)
        .where(c.id.in_(list(task_ids)), c[timer.value].is_(None), _pending())
        .values(sets)
        .returning(c.id)
    )
    return {int(i) for i in session.execute(statement).scalars()}


def release_to_group(values: dict[str, Any], group: str) -> dict[str, Any]:
    """The column values that hand a pending task to `group`'s pool, nobody holding it."""
    return {
        **values,
        "group_name": group,
        "status": TaskStatus.OPEN.value,
        "assignee_id": None,
        "assigned_at": None,
    }
