"""Queries on review tasks; claims are guarded so no task reaches two reviewers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from signoff.domain.states import TaskStatus
from signoff.storage import engine, rows
from signoff.storage import tables as t
from signoff.storage.types import UTCDateTime


def create_tasks(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(sa.insert(t.review_tasks), rows)


def read_task(session: Session, task_id: int, *, lock: bool = False) -> rows.TaskRow | None:
    """The task; `lock`: hold its row until the transaction ends (PostgreSQL)."""
    query = sa.select(t.review_tasks).where(t.review_tasks.c.id == task_id)
    if lock and engine.dialect_name(session) == "postgresql":
        query = query.with_for_update()
    return cast("rows.TaskRow | None", session.execute(query).first())


def list_tasks_for_item(session: Session, item_id: int) -> list[rows.TaskRow]:
    return cast(
        "list[rows.TaskRow]",
        list(
            session.execute(
                sa.select(t.review_tasks)
                .where(t.review_tasks.c.item_id == item_id)
                .order_by(t.review_tasks.c.id)
            )
        ),
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


#: How many candidates each probe of a claim reads on SQLite (PostgreSQL locks one).
CLAIM_PROBE = 5


#: Another task of the same item (built once: an alias is an immutable construct).
_OTHER_TASK = t.review_tasks.alias("other_task")


def not_reviewed_by(user_id: int) -> Any:
    """The task's item has no other task this user holds or decided (consensus: N people).

    Only consensus tasks (`kind` set) need the look-up: a normal item has one task.
    """
    c = t.review_tasks.c
    other = _OTHER_TASK
    return sa.or_(
        c.kind.is_(None),
        ~sa.exists().where(
            other.c.item_id == c.item_id, other.c.assignee_id == user_id, other.c.id != c.id
        ),
    )


def _claimable(
    workflow_ids: list[int] | None,
    groups: Sequence[str] | None,
    exclude: Sequence[int],
    reviewer: int | None = None,
) -> list[Any]:
    """Filters every claim probe shares: the caller's workflows and groups, minus `exclude`
    and tasks of items `reviewer` already has a task of."""
    c = t.review_tasks.c
    where: list[Any] = []
    if reviewer is not None:
        where.append(not_reviewed_by(reviewer))
    if workflow_ids is not None:
        where.append(c.workflow_id.in_(workflow_ids))
    if groups is not None:
        where.append(sa.or_(c.group_name.is_(None), c.group_name.in_(list(groups))))
    if exclude:
        where.append(c.id.not_in(list(exclude)))
    return where


def list_claimable_tasks(
    session: Session,
    workflow_ids: list[int] | None,
    now: datetime,
    *,
    groups: Sequence[str] | None = None,
    exclude: Sequence[int] = (),
    reviewer: int | None = None,
) -> list[Any]:
    """Tasks to offer next (whole rows), due first: open ones and lapsed holds.

    Each kind is its own index-ordered probe with a small LIMIT — open tasks with a
    due time (`ix_review_tasks_claim`, in due order), open tasks without one (same
    index, in id order), holds lapsed before `now` (`ix_review_tasks_status_hold`,
    few) — merged here, so no claim sorts the backlog. `groups` None: any group
    (admins); else tasks of no group or of one of these. On PostgreSQL each probe
    locks the row it returns and skips rows other claimers hold. `reviewer`: leave out
    tasks of items that reviewer already has another task of.
    """
    c = t.review_tasks.c
    shared = _claimable(workflow_ids, groups, exclude, reviewer)
    lock = engine.dialect_name(session) == "postgresql"
    limit = 1 if lock else CLAIM_PROBE
    # Whole rows: the claimer needs the one it takes (and on PostgreSQL it is locked).
    columns = tuple(t.review_tasks.c)
    probes = [
        sa.select(*columns)
        .where(c.status == TaskStatus.OPEN.value, c.due_at.is_not(None), *shared)
        .order_by(c.status, c.due_at, c.id),
        sa.select(*columns)
        .where(c.status == TaskStatus.OPEN.value, c.due_at.is_(None), *shared)
        .order_by(c.status, c.due_at, c.id),
        sa.select(*columns)
        .where(c.status == TaskStatus.ASSIGNED.value, c.hold_expires_at < now, *shared)
        .order_by(c.due_at.is_(None), c.due_at, c.id),
        # Queues ordered to learn (`ix_review_tasks_learn`): the lowest priority whose
        # SLA is not at risk. Due-order workflows leave priority NULL: not in this range.
        sa.select(*columns)
        .where(
            c.status == TaskStatus.OPEN.value,
            c.priority.is_not(None),
            sa.or_(c.learn_until.is_(None), c.learn_until > now),
            *shared,
        )
        .order_by(c.status, c.priority, c.id),
    ]
    due, undue, lapsed, learn = (
        q.limit(limit).with_for_update(skip_locked=True) if lock else q.limit(limit) for q in probes
    )
    # Locks one row per probe only: concurrent claimers skip locked rows, so locking
    # a page would tell every other reviewer that nothing is waiting.
    found = list(session.execute(due))
    if not (lock and found and _in_due_order(found[0], now)):
        # A due open task beats every task without a due time: probe those only if needed.
        found.extend(session.execute(undue))
    found.extend(session.execute(lapsed))
    if not (lock and found and _in_due_order(found[0], now)):
        found.extend(session.execute(learn))
    # A task may answer two probes (the earliest due is also the least sure).
    unique = list({int(r.id): r for r in found}.values())
    return sorted(unique, key=lambda row: claim_order(row, now))


def _in_due_order(row: Any, now: datetime) -> bool:
    """Whether the task keeps due order: a due-order workflow's, or its SLA is at risk."""
    return row.priority is None or (row.learn_until is not None and row.learn_until <= now)


def claim_order(row: Any, now: datetime | None = None) -> tuple[bool, bool, float, datetime, int]:
    """Due order first (earliest first, then those without a due time), oldest id first;
    then tasks of queues ordered to learn whose SLA is not at risk, lowest priority first."""
    learning = now is not None and not _in_due_order(row, now)
    return (
        learning,
        learning or row.due_at is None,
        float(row.priority) if learning else 0.0,
        datetime.min.replace(tzinfo=UTC)
        if learning
        else row.due_at or datetime.min.replace(tzinfo=UTC),
        int(row.id),
    )


def _takeable(user_id: int, now: datetime, groups: Sequence[str] | None) -> Any:
    c = t.review_tasks.c
    guard = sa.or_(
        c.status == TaskStatus.OPEN.value,
        sa.and_(
            c.status == TaskStatus.ASSIGNED.value,
            c.hold_expires_at < now,
            c.assignee_id != user_id,
        ),
    )
    if groups is not None:
        guard = sa.and_(guard, sa.or_(c.group_name.is_(None), c.group_name.in_(list(groups))))
    return sa.and_(guard, not_reviewed_by(user_id))


def _guarded(session: Session, statement: Any, consensus: bool) -> rows.TaskRow | None:
    """Run a guarded update of one task: the task as updated, or None if it matched
    nothing or would give one reviewer two tasks of an item (the unique index, when two
    claims raced).

    Only a consensus task (`consensus`: its item has several) can hit the index.
    """
    statement = statement.returning(*t.review_tasks.c)
    if not consensus or engine.dialect_name(session) != "postgresql":
        # SQLite serialises writers: the statement's own guard already saw the other task.
        return cast("rows.TaskRow | None", session.execute(statement).first())
    try:
        with session.begin_nested():
            return cast("rows.TaskRow | None", session.execute(statement).first())
    except sa.exc.IntegrityError:
        return None


def take_task(
    session: Session,
    task_id: int,
    user_id: int,
    now: datetime,
    hold_until: datetime,
    groups: Sequence[str] | None = None,
    *,
    consensus: bool = False,
) -> rows.TaskRow | None:
    """Guarded: a reviewer takes an open task or a lapsed hold (of their groups); the task
    now theirs, or None if not.

    Taking counts as the assignee touching the task.
    """
    c = t.review_tasks.c
    return _guarded(
        session,
        sa.update(t.review_tasks)
        .where(c.id == task_id, _takeable(user_id, now, groups))
        .values(
            status=TaskStatus.ASSIGNED.value,
            assignee_id=user_id,
            assigned_at=now,
            hold_expires_at=hold_until,
            touched_at=now,
            first_touched_at=sa.func.coalesce(c.first_touched_at, now),
        ),
        consensus,
    )


def assign_task(
    session: Session,
    task_id: int,
    user_id: int,
    now: datetime,
    hold_until: datetime,
    *,
    only_open: bool,
    consensus: bool = False,
) -> bool:
    """Guarded: give a task to `user_id` on someone else's behalf (a strategy, an admin).

    `only_open`: only a task still in the pool (a strategy); else also one somebody
    holds (an admin reassigning). False when the task is decided or closed, or the
    user already has another task of its item.
    """
    c = t.review_tasks.c
    statuses = (
        [TaskStatus.OPEN.value]
        if only_open
        else [
            TaskStatus.OPEN.value,
            TaskStatus.ASSIGNED.value,
        ]
    )
    assigned = _guarded(
        session,
        sa.update(t.review_tasks)
        .where(c.id == task_id, c.status.in_(statuses), not_reviewed_by(user_id))
        .values(
            status=TaskStatus.ASSIGNED.value,
            assignee_id=user_id,
            assigned_at=now,
            hold_expires_at=hold_until,
        ),
        consensus,
    )
    return assigned is not None


def touch_task(
    session: Session, task_id: int, user_id: int, now: datetime, hold_until: datetime
) -> bool:
    """Guarded: the assignee looked at their task; their hold runs again from now."""
    c = t.review_tasks.c
    result = session.execute(
        sa.update(t.review_tasks)
        .where(
            c.id == task_id,
            c.status == TaskStatus.ASSIGNED.value,
            c.assignee_id == user_id,
        )
        .values(
            touched_at=now,
            first_touched_at=sa.func.coalesce(c.first_touched_at, now),
            hold_expires_at=hold_until,
        )
    )
    return engine.rowcount(result) == 1


def release_task(session: Session, task_id: int, user_id: int | None) -> bool:
    """Guarded: hand an assigned task back to the pool; False unless `user_id` held it.

    `user_id` None: whoever holds it (an admin releasing it).
    """
    c = t.review_tasks.c
    where = [c.id == task_id, c.status == TaskStatus.ASSIGNED.value]
    if user_id is not None:
        where.append(c.assignee_id == user_id)
    result = session.execute(
        sa.update(t.review_tasks)
        .where(*where)
        .values(
            status=TaskStatus.OPEN.value, assignee_id=None, assigned_at=None, hold_expires_at=None
        )
    )
    return engine.rowcount(result) == 1


def read_task_version(session: Session, task_id: int) -> int | None:
    """The workflow version the task's item runs under."""
    return session.execute(
        sa.select(t.items.c.workflow_version)
        .select_from(t.review_tasks.join(t.items, t.items.c.id == t.review_tasks.c.item_id))
        .where(t.review_tasks.c.id == task_id)
    ).scalar_one_or_none()


def list_new_tasks(session: Session, item_ids: Sequence[int]) -> dict[int, list[int]]:
    """The open tasks of each of these items (just created), item id → task ids in order."""
    if not item_ids:
        return {}
    rows = session.execute(
        sa.select(t.review_tasks.c.id, t.review_tasks.c.item_id)
        .where(
            t.review_tasks.c.item_id.in_(list(item_ids)),
            t.review_tasks.c.status == TaskStatus.OPEN.value,
        )
        .order_by(t.review_tasks.c.id)
    )
    found: dict[int, list[int]] = {}
    for r in rows:
        found.setdefault(int(r.item_id), []).append(int(r.id))
    return found


def list_item_reviewers(session: Session, item_id: int, except_task: int | None = None) -> set[int]:
    """Users who hold or decided a task of this item (none of them may take another)."""
    c = t.review_tasks.c
    query = sa.select(c.assignee_id).where(c.item_id == item_id, c.assignee_id.is_not(None))
    if except_task is not None:
        query = query.where(c.id != except_task)
    rows = session.execute(query)
    return {int(r) for r in rows.scalars()}


def list_decided_votes(
    session: Session, workflow_ids: Sequence[int], since: datetime | None, limit: int
) -> list[Any]:
    """The latest decided consensus votes (workflow, item, assignee, outcome, labels)."""
    c = t.review_tasks.c
    query = sa.select(c.workflow_id, c.item_id, c.assignee_id, c.outcome, c.labels).where(
        c.workflow_id.in_(list(workflow_ids)),
        c.status == TaskStatus.DECIDED.value,
        c.kind == "vote",
    )
    if since is not None:
        query = query.where(c.decided_at >= since)
    return list(session.execute(query.order_by(c.id.desc()).limit(limit)))


def list_member_load(session: Session, user_ids: Sequence[int]) -> dict[int, tuple[int, Any]]:
    """Each user's open (assigned) tasks and latest assignment or decision."""
    if not user_ids:
        return {}
    c = t.review_tasks.c
    open_count = sa.func.sum(sa.case((c.status == TaskStatus.ASSIGNED.value, 1), else_=0))
    latest = sa.func.max(sa.func.coalesce(c.decided_at, c.assigned_at), type_=UTCDateTime)
    rows = session.execute(
        sa.select(c.assignee_id, open_count.label("n"), latest.label("latest"))
        .where(
            c.assignee_id.in_(list(user_ids)),
            c.status.in_([TaskStatus.ASSIGNED.value, TaskStatus.DECIDED.value]),
        )
        .group_by(c.assignee_id)
    )
    return {int(r.assignee_id): (int(r.n or 0), r.latest) for r in rows}


def decide_task(session: Session, task_id: int, values: dict[str, Any]) -> rows.TaskRow | None:
    """Guarded: only an open or assigned task can be decided; the decided task, or None
    if it was decided already (or closed)."""
    return cast(
        "rows.TaskRow | None",
        session.execute(
            sa.update(t.review_tasks)
            .where(
                t.review_tasks.c.id == task_id,
                t.review_tasks.c.status.in_([TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value]),
            )
            .values(status=TaskStatus.DECIDED.value, **values)
            .returning(*t.review_tasks.c)
        ).first(),
    )


def cancel_tasks_for_item(session: Session, item_id: int) -> None:
    """Close the item's tasks still waiting (cancelled, or no longer needed once decided)."""
    session.execute(
        sa.update(t.review_tasks)
        .where(
            t.review_tasks.c.item_id == item_id,
            t.review_tasks.c.status.in_([TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value]),
        )
        .values(status=TaskStatus.CANCELLED.value)
    )
