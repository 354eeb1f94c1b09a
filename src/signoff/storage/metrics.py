"""Aggregate queries behind the dashboard, the metrics API, /metrics and the review queue.

Every query aggregates in SQL and is an index-only range scan on a covering index
of migration 0002, led by `workflow_id IN (...)` (callers pass the workflows
explicitly) and the time column. The only rows fetched one by one are the numeric
columns medians need, capped by id-stride sampling.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from signoff.domain import durations
from signoff.domain.states import OutboxStatus, TaskStatus
from signoff.storage import tables as t

#: Open review work: a task nobody has taken yet, or one a reviewer holds.
PENDING = (TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _int_sum(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _in_workflows(column: sa.ColumnElement[Any], workflow_ids: Sequence[int] | None) -> Any:
    return sa.true() if workflow_ids is None else column.in_(list(workflow_ids))


def _since(column: sa.ColumnElement[Any], since: datetime | None) -> Any:
    return sa.true() if since is None else column >= since


def _until(column: sa.ColumnElement[Any], until: datetime | None) -> Any:
    return sa.true() if until is None else column < until


def seconds_between(session: Session, start: Any, end: Any) -> sa.ColumnElement[float]:
    """`end - start` in seconds, portable across SQLite and PostgreSQL."""
    if _dialect(session) == "postgresql":
        return sa.cast(sa.func.extract("epoch", end - start), sa.Float)
    return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0


def day_of(session: Session, column: Any) -> sa.ColumnElement[str]:
    """The UTC calendar day of a timestamp as `YYYY-MM-DD` (columns hold naive UTC)."""
    if _dialect(session) == "postgresql":
        return sa.func.to_char(column, "YYYY-MM-DD")
    return sa.func.substr(column, 1, 10)


def _bucket(session: Session, value: Any, bins: int) -> sa.ColumnElement[int]:
    if _dialect(session) == "postgresql":
        return sa.cast(sa.func.floor(value * bins), sa.Integer)
    return sa.cast(value * bins, sa.Integer)  # SQLite truncates; confidences are >= 0


def decisions(
    session: Session,
    workflow_ids: Sequence[int] | None,
    since: datetime | None,
    until: datetime | None = None,
) -> list[Any]:
    """Decided items in the window by (workflow, UTC day, route, qa_sample): count, overrides."""
    i = t.items.c
    day = day_of(session, i.decided_at).label("day")
    query = (
        sa.select(
            i.workflow_id,
            day,
            i.route,
            i.qa_sample,
            sa.func.count().label("n"),
            _int_sum(i.override.is_(True)).label("overridden"),
        )
        .where(
            i.decided_at.is_not(None),
            _since(i.decided_at, since),
            _until(i.decided_at, until),
            _in_workflows(i.workflow_id, workflow_ids),
        )
        .group_by(i.workflow_id, day, i.route, i.qa_sample)
    )
    return list(session.execute(query))


def confidence_histogram(
    session: Session,
    workflow_ids: Sequence[int] | None,
    since: datetime | None,
    bins: int,
    until: datetime | None = None,
) -> list[Any]:
    """Items routed in the window by (route, confidence bucket of width 1/bins)."""
    i = t.items.c
    bucket = _bucket(session, i.confidence, bins).label("bucket")
    query = (
        sa.select(i.route, bucket, sa.func.count().label("n"))
        .where(
            i.routed_at.is_not(None),
            _since(i.routed_at, since),
            _until(i.routed_at, until),
            i.confidence.is_not(None),
            _in_workflows(i.workflow_id, workflow_ids),
        )
        .group_by(i.route, bucket)
    )
    return list(session.execute(query))


def _stride_filter(column: Any, total: int, cap: int) -> Any:
    """Keep about `cap` of `total` rows by id stride: cheap, deterministic, unbiased in time."""
    if total <= cap:
        return sa.true()
    stride = -(-total // cap)
    return column % stride == 0


def decision_duration_buckets(
    session: Session,
    workflow_ids: Sequence[int] | None,
    since: datetime | None,
    until: datetime | None = None,
) -> list[tuple[str | None, int, int]]:
    """(route, duration bucket, count) of the items decided in [since, until).

    Buckets as `domain.durations.bucket_of`: counted in SQL on PostgreSQL (a partial
    day can hold tens of thousands of rows); on SQLite, which may lack log10, each
    row's seconds are bucketed here.
    """
    i = t.items.c
    where = (
        i.decided_at.is_not(None),
        _since(i.decided_at, since),
        _until(i.decided_at, until),
        _in_workflows(i.workflow_id, workflow_ids),
    )
    if _dialect(session) == "postgresql":
        seconds = seconds_between(session, i.created_at, i.decided_at)
        bucket = sa.case(
            (seconds < durations.MIN_SECONDS, durations.UNDERFLOW),
            else_=sa.cast(sa.func.floor(durations.PER_DECADE * sa.func.log(seconds)), sa.Integer),
        ).label("bucket")
        query = sa.select(i.route, bucket, sa.func.count()).where(*where).group_by(i.route, bucket)
        return [(route, int(b), int(n)) for route, b, n in session.execute(query)]
    counts: Counter[tuple[str | None, int]] = Counter()
    for r in session.execute(sa.select(i.route, i.created_at, i.decided_at).where(*where)):
        counts[(r.route, durations.bucket_of((r.decided_at - r.created_at).total_seconds()))] += 1
    return [(route, b, n) for (route, b), n in counts.items()]


def reviewer_throughput(
    session: Session, workflow_ids: Sequence[int] | None, since: datetime | None
) -> list[Any]:
    """Tasks decided in the window per reviewer, with how many came after their due time."""
    r = t.review_tasks.c
    query = (
        sa.select(
            r.assignee_id,
            t.users.c.email,
            sa.func.count().label("n"),
            _int_sum(sa.and_(r.due_at.is_not(None), r.decided_at > r.due_at)).label("late"),
        )
        .select_from(t.review_tasks.outerjoin(t.users, t.users.c.id == r.assignee_id))
        .where(
            r.status == TaskStatus.DECIDED.value,
            _since(r.decided_at, since),
            _in_workflows(r.workflow_id, workflow_ids),
        )
        .group_by(r.assignee_id, t.users.c.email)
    )
    return list(session.execute(query))


def time_on_task(
    session: Session, workflow_ids: Sequence[int] | None, since: datetime | None, cap: int
) -> list[Any]:
    """(assignee_id, time_on_task_ms) of tasks decided in the window (sampled past `cap`)."""
    r = t.review_tasks.c
    where = (
        r.status == TaskStatus.DECIDED.value,
        _since(r.decided_at, since),
        r.time_on_task_ms.is_not(None),
        _in_workflows(r.workflow_id, workflow_ids),
    )
    total = int(session.execute(sa.select(sa.func.count()).where(*where)).scalar_one())
    query = sa.select(r.assignee_id, r.time_on_task_ms).where(
        *where, _stride_filter(r.id, total, cap)
    )
    return list(session.execute(query))


def queue_by_workflow(
    session: Session, workflow_ids: Sequence[int] | None, now: datetime
) -> list[Any]:
    """Pending tasks by (workflow, status): count, overdue count and oldest creation time."""
    r = t.review_tasks.c
    query = (
        sa.select(
            r.workflow_id,
            r.status,
            sa.func.count().label("n"),
            _int_sum(sa.and_(r.due_at.is_not(None), r.due_at < now)).label("overdue"),
            sa.func.min(r.created_at).label("oldest"),
        )
        .where(r.status.in_(PENDING), _in_workflows(r.workflow_id, workflow_ids))
        .group_by(r.workflow_id, r.status)
    )
    return list(session.execute(query))


def assigned_by_reviewer(session: Session, workflow_ids: Sequence[int] | None) -> dict[int, int]:
    """How many tasks each reviewer holds right now."""
    r = t.review_tasks.c
    query = (
        sa.select(r.assignee_id, sa.func.count())
        .where(r.status == TaskStatus.ASSIGNED.value, _in_workflows(r.workflow_id, workflow_ids))
        .group_by(r.assignee_id)
    )
    return {int(a): int(n) for a, n in session.execute(query) if a is not None}


def items_received(
    session: Session,
    workflow_ids: Sequence[int] | None,
    since: datetime | None,
    until: datetime | None = None,
) -> int:
    i = t.items.c
    query = (
        sa.select(sa.func.count())
        .select_from(t.items)
        .where(
            _since(i.created_at, since),
            _until(i.created_at, until),
            _in_workflows(i.workflow_id, workflow_ids),
        )
    )
    return int(session.execute(query).scalar_one())


def _gold_only(query: sa.Select[Any], gold_only: bool) -> sa.Select[Any]:
    """The query over gold items only: released gold rows joined to their items by id
    (few rows), so the all-items figure keeps its index-only scan and gold is subtracted."""
    if not gold_only:
        return query
    g = t.gold_items.c
    return query.join(t.gold_items, g.item_id == t.items.c.id)


def items_by_workflow_state(session: Session, *, gold_only: bool = False) -> list[Any]:
    """(workflow_id, state, count) over every item (an index-only scan), or gold items only."""
    i = t.items.c
    query = sa.select(i.workflow_id, i.state, sa.func.count().label("n")).select_from(t.items)
    return list(session.execute(_gold_only(query, gold_only).group_by(i.workflow_id, i.state)))


def decision_totals(
    session: Session,
    workflow_ids: Sequence[int],
    edges: Sequence[float],
    *,
    gold_only: bool = False,
) -> list[Any]:
    """Every decided item by (workflow_id, route, qa_sample): count, overrides, time to decision.

    One index-only scan of the decided-items covering index: `seconds` is the summed
    intake-to-decision time, and `le_<n>` counts the items decided within `edges[n]`
    seconds (the cumulative buckets of a Prometheus histogram). `gold_only`: the same
    figures over gold items, for the caller to take out.
    """
    i = t.items.c
    seconds = seconds_between(session, i.created_at, i.decided_at)
    buckets = [_int_sum(seconds <= edge).label(f"le_{n}") for n, edge in enumerate(edges)]
    query = (
        sa.select(
            i.workflow_id,
            i.route,
            i.qa_sample,
            sa.func.count().label("n"),
            _int_sum(i.override.is_(True)).label("overridden"),
            sa.func.coalesce(sa.func.sum(seconds), 0.0).label("seconds"),
            *buckets,
        )
        .select_from(t.items)
        .where(i.decided_at.is_not(None), _in_workflows(i.workflow_id, workflow_ids))
    )
    return list(
        session.execute(_gold_only(query, gold_only).group_by(i.workflow_id, i.route, i.qa_sample))
    )


def reviewer_totals(session: Session, workflow_ids: Sequence[int]) -> list[Any]:
    """Decided tasks by (workflow_id, assignee_id): count, and how many came past their due time."""
    r = t.review_tasks.c
    query = (
        sa.select(
            r.workflow_id,
            r.assignee_id,
            sa.func.count().label("n"),
            _int_sum(sa.and_(r.due_at.is_not(None), r.decided_at > r.due_at)).label("late"),
        )
        .where(r.status == TaskStatus.DECIDED.value, _in_workflows(r.workflow_id, workflow_ids))
        .group_by(r.workflow_id, r.assignee_id)
    )
    return list(session.execute(query))


def assigned_by_workflow_reviewer(session: Session, workflow_ids: Sequence[int]) -> list[Any]:
    """Tasks reviewers hold right now by (workflow_id, assignee_id)."""
    r = t.review_tasks.c
    query = (
        sa.select(r.workflow_id, r.assignee_id, sa.func.count().label("n"))
        .where(r.status == TaskStatus.ASSIGNED.value, _in_workflows(r.workflow_id, workflow_ids))
        .group_by(r.workflow_id, r.assignee_id)
    )
    return list(session.execute(query))


def count_outbox_pending(session: Session) -> int:
    return int(
        session.execute(
            sa.select(sa.func.count()).where(t.outbox.c.status == OutboxStatus.PENDING.value)
        ).scalar_one()
    )


def workflow_names(session: Session) -> dict[int, str]:
    rows = session.execute(sa.select(t.workflows.c.id, t.workflows.c.name))
    return {int(i): str(n) for i, n in rows}


def list_pending_tasks(
    session: Session,
    workflow_ids: Sequence[int] | None,
    *,
    assignee_id: int | None = None,
    unassigned: bool = False,
    overdue_at: datetime | None = None,
    after_task_id: int | None = None,
    limit: int = 25,
) -> list[Any]:
    """Pending tasks with their item's AI answer and content, newest first."""
    r, i = t.review_tasks.c, t.items.c
    query = (
        sa.select(
            r.id.label("task_id"),
            r.item_id,
            r.workflow_id,
            r.status,
            r.assignee_id,
            r.created_at,
            r.due_at,
            r.group_name,
            t.users.c.email.label("assignee"),
            i.ai_label,
            i.confidence,
            i.route_reasons,
            i.external_id,
            i.workflow_version,
            i.content,
            i.blind,
        )
        .select_from(
            t.review_tasks.join(t.items, t.items.c.id == r.item_id).outerjoin(
                t.users, t.users.c.id == r.assignee_id
            )
        )
        .where(r.status.in_(PENDING), _in_workflows(r.workflow_id, workflow_ids))
        .order_by(r.id.desc())
        .limit(limit)
    )
    if assignee_id is not None:
        query = query.where(r.assignee_id == assignee_id, r.status == TaskStatus.ASSIGNED.value)
    if unassigned:
        query = query.where(r.status == TaskStatus.OPEN.value)
    if overdue_at is not None:
        query = query.where(r.due_at.is_not(None), r.due_at < overdue_at)
    if after_task_id is not None:
        query = query.where(r.id > after_task_id)
    return list(session.execute(query))


def count_pending_for(session: Session, workflow_ids: Sequence[int] | None, user_id: int) -> int:
    """Tasks the reviewer holds right now."""
    r = t.review_tasks.c
    return int(
        session.execute(
            sa.select(sa.func.count()).where(
                r.assignee_id == user_id,
                r.status == TaskStatus.ASSIGNED.value,
                _in_workflows(r.workflow_id, workflow_ids),
            )
        ).scalar_one()
    )


def timers_fired(
    session: Session, workflow_ids: Sequence[int] | None, since: datetime | None
) -> list[Any]:
    """SLA timers fired in the window per workflow: reminded, escalated, timed_out."""
    r = t.review_tasks.c

    def fired(column: Any) -> sa.ColumnElement[Any]:
        return _int_sum(sa.and_(column.is_not(None), _since(column, since)))

    query = (
        sa.select(
            r.workflow_id,
            fired(r.reminded_at).label("reminded"),
            fired(r.escalated_at).label("escalated"),
            fired(r.timed_out_at).label("timed_out"),
        )
        .where(
            _in_workflows(r.workflow_id, workflow_ids),
            sa.or_(
                r.reminded_at.is_not(None), r.escalated_at.is_not(None), r.timed_out_at.is_not(None)
            ),
        )
        .group_by(r.workflow_id)
    )
    return list(session.execute(query))


def first_touch_seconds(
    session: Session, workflow_ids: Sequence[int] | None, since: datetime | None, cap: int
) -> tuple[list[float], int]:
    """Seconds from task creation to a reviewer's first touch (sampled past `cap`), and the count."""
    r = t.review_tasks.c
    where = (
        r.first_touched_at.is_not(None),
        _since(r.first_touched_at, since),
        _in_workflows(r.workflow_id, workflow_ids),
    )
    total = int(session.execute(sa.select(sa.func.count()).where(*where)).scalar_one())
    if total == 0:
        return [], 0
    query = sa.select(seconds_between(session, r.created_at, r.first_touched_at)).where(
        *where, _stride_filter(r.id, total, cap)
    )
    return [float(v) for v in session.execute(query).scalars() if v is not None], total


def first_touch_totals(session: Session) -> list[Any]:
    """Per workflow: how many tasks were touched and the summed seconds to first touch."""
    r = t.review_tasks.c
    seconds = seconds_between(session, r.created_at, r.first_touched_at)
    query = (
        sa.select(
            r.workflow_id,
            sa.func.count().label("n"),
            sa.func.coalesce(sa.func.sum(seconds), 0.0).label("seconds"),
        )
        .where(r.first_touched_at.is_not(None))
        .group_by(r.workflow_id)
    )
    return list(session.execute(query))


def backlog_by_group(session: Session, workflow_ids: Sequence[int] | None) -> list[Any]:
    """Pending tasks per group (None: no group) with the oldest creation time."""
    r = t.review_tasks.c
    query = (
        sa.select(
            r.group_name,
            sa.func.count().label("n"),
            sa.func.min(r.created_at).label("oldest"),
        )
        .where(sa.text(t.PENDING_SQL), _in_workflows(r.workflow_id, workflow_ids))
        .group_by(r.group_name)
    )
    return list(session.execute(query))
