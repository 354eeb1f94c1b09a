"""Queries for blind review and gold items: pending gold, reviewed tasks, reviewer flags."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from signoff.domain.states import TaskStatus
from signoff.storage import tables as t


def create_gold_items(session: Session, rows: list[dict[str, Any]]) -> None:
    """Store gold items waiting to be mixed into a workflow's queue (one executemany)."""
    if rows:
        session.execute(sa.insert(t.gold_items), rows)


def count_gold(session: Session, workflow_id: int) -> tuple[int, int]:
    """(released, waiting) gold items of a workflow."""
    g = t.gold_items.c
    row = session.execute(
        sa.select(
            sa.func.count(g.item_id).label("released"),
            sa.func.count().label("total"),
        ).where(g.workflow_id == workflow_id)
    ).one()
    return int(row.released), int(row.total) - int(row.released)


def count_real_tasks_since_gold(session: Session, workflow_id: int) -> int:
    """Review tasks of a workflow's application items created since its first gold import.

    Tasks from before any gold existed make no room for gold: an import never floods
    the queue with the backlog's share at once.
    """
    r, i, g = t.review_tasks.c, t.items.c, t.gold_items.c
    first = session.execute(
        sa.select(sa.func.min(g.created_at)).where(g.workflow_id == workflow_id)
    ).scalar_one()
    if first is None:
        return 0
    query = (
        sa.select(sa.func.count())
        .select_from(t.review_tasks.join(t.items, i.id == r.item_id))
        .where(r.workflow_id == workflow_id, r.created_at >= first, i.gold_label.is_(None))
    )
    return int(session.execute(query).scalar_one())


def list_waiting_gold(session: Session, workflow_id: int, limit: int) -> list[Any]:
    """The oldest gold items not yet released, locked on PostgreSQL so one worker takes each."""
    g = t.gold_items.c
    query = (
        sa.select(g.id, g.content, g.label, g.created_by)
        .where(g.workflow_id == workflow_id, g.item_id.is_(None))
        .order_by(g.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.execute(query))


def mark_released(session: Session, gold_id: int, item_id: int, now: datetime) -> bool:
    """Guarded: False when another worker released this gold item first."""
    g = t.gold_items.c
    result = session.execute(
        sa.update(t.gold_items)
        .where(g.id == gold_id, g.item_id.is_(None))
        .values(item_id=item_id, released_at=now)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def count_reviewed(
    session: Session, workflow_ids: Sequence[int], since: datetime | None
) -> list[Any]:
    """Decided tasks counted by workflow, reviewer, blind, and the AI's, final and gold label.

    One row per combination (reviewers x labels squared at most), so the figures need
    no per-task rows however many tasks were decided.
    """
    r, i = t.review_tasks.c, t.items.c
    query = (
        sa.select(
            i.workflow_id,
            r.assignee_id,
            t.users.c.email,
            i.blind,
            i.ai_label,
            i.final_label,
            i.gold_label,
            sa.func.count().label("n"),
        )
        .select_from(
            t.review_tasks.join(t.items, i.id == r.item_id).outerjoin(
                t.users, t.users.c.id == r.assignee_id
            )
        )
        .where(
            r.workflow_id.in_(list(workflow_ids)),
            r.status == TaskStatus.DECIDED.value,
            r.assignee_id.is_not(None),
        )
        .group_by(
            i.workflow_id,
            r.assignee_id,
            t.users.c.email,
            i.blind,
            i.ai_label,
            i.final_label,
            i.gold_label,
        )
    )
    if since is not None:
        query = query.where(r.decided_at >= since)
    return list(session.execute(query))


def list_gold_decisions(session: Session, workflow_id: int, user_id: int) -> list[Any]:
    """A reviewer's decided gold tasks in a workflow: the label decided and the known one."""
    r, i = t.review_tasks.c, t.items.c
    query = (
        sa.select(i.final_label, i.gold_label)
        .select_from(t.review_tasks.join(t.items, i.id == r.item_id))
        .where(
            r.workflow_id == workflow_id,
            r.assignee_id == user_id,
            r.status == TaskStatus.DECIDED.value,
            i.gold_label.is_not(None),
        )
    )
    return list(session.execute(query))


def create_flag(
    session: Session,
    workflow_id: int,
    user_id: int,
    now: datetime,
    *,
    accuracy: float | None,
    upper: float | None,
    n: int,
) -> bool:
    """Flag a reviewer once per workflow; False when already flagged (also by a racing decision)."""
    values = {
        "workflow_id": workflow_id,
        "user_id": user_id,
        "flagged_at": now,
        "accuracy": accuracy,
        "upper": upper,
        "n": n,
    }
    if session.get_bind().dialect.name == "postgresql":
        statement: Any = postgresql.insert(t.reviewer_flags).values(**values)
    else:
        statement = sqlite.insert(t.reviewer_flags).values(**values)
    inserted = statement.on_conflict_do_nothing().returning(t.reviewer_flags.c.user_id)
    return session.execute(inserted).first() is not None


def list_flags(session: Session, workflow_ids: Sequence[int]) -> list[Any]:
    f = t.reviewer_flags.c
    query = (
        sa.select(f.workflow_id, f.user_id, t.users.c.email, f.flagged_at, f.accuracy, f.upper, f.n)
        .select_from(t.reviewer_flags.join(t.users, t.users.c.id == f.user_id))
        .where(f.workflow_id.in_(list(workflow_ids)))
        .order_by(f.flagged_at)
    )
    return list(session.execute(query))


def delete_flag(session: Session, workflow_id: int, user_id: int) -> bool:
    """Lift a reviewer's flag on a workflow; False when there was none."""
    f = t.reviewer_flags.c
    result = session.execute(
        sa.delete(t.reviewer_flags).where(f.workflow_id == workflow_id, f.user_id == user_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def decided_by_flagged(decided_by: Any, workflow_id: Any) -> Any:
    """SQL: the decision (its `decided_by` actor) is a reviewer flagged on that workflow.

    A flagged reviewer's decisions stop counting as evidence (threshold, training) until
    an admin lifts the flag; the actor is `user:EMAIL`, as decisions record it.
    """
    f, u = t.reviewer_flags.c, t.users.c
    return sa.exists(
        sa.select(1)
        .select_from(t.reviewer_flags.join(t.users, u.id == f.user_id))
        .where(f.workflow_id == workflow_id, decided_by == sa.literal("user:") + u.email)
    )
