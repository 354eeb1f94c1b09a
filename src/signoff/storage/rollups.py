"""Dashboard rollups: per-day counters kept in the decision's own transaction.

`set_item_states` calls `record` after its guarded update, so every decision and
every routing lands in `decision_rollups` / `decision_time_rollups` /
`confidence_rollups` or nowhere. Reads
add the whole days after a window's start from the rollups to the raw rows of the
window's first, partial day (a short range scan), so a windowed figure equals the
one computed over all items, at a cost that grows with days, not with items.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from signoff.domain import durations
from signoff.storage import engine
from signoff.storage import metrics as raw
from signoff.storage import tables as t

#: Confidence histogram resolution kept in the rollup (the summary's bins).
BINS = 20
#: Stored in place of a NULL route: key columns cannot be NULL.
NO_ROUTE = ""


class DecisionRow(NamedTuple):
    workflow_id: int
    day: str
    route: str | None
    qa_sample: bool
    n: int
    overridden: int


class HistogramRow(NamedTuple):
    route: str | None
    bucket: int
    n: int


def _day(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.date().isoformat()


def bucket_of(confidence: float, bins: int = BINS) -> int:
    """The histogram bucket of a confidence, as the raw query computes it (floor)."""
    return int(math.floor(confidence * bins))


#: Rows each decision counter of a (workflow, day, route, ...) is split into: concurrent
#: decisions of different items add to different rows instead of queueing on one.
SHARDS = 8


def shard_of(item_id: int) -> int:
    return item_id % SHARDS


def record(session: Session, decided_ids: Sequence[int], routed_ids: Sequence[int]) -> None:
    """Count items just decided and just routed (read back from their updated rows)."""
    i = t.items.c
    if decided_ids:
        rows = session.execute(
            sa.select(
                i.id, i.workflow_id, i.created_at, i.decided_at, i.route, i.qa_sample, i.override
            ).where(
                i.id.in_(sorted(set(decided_ids))),
                i.decided_at.is_not(None),
                i.gold_label.is_(None),
            )
        )
        counts: Counter[tuple[Any, ...]] = Counter()
        overrides: Counter[tuple[Any, ...]] = Counter()
        times: Counter[tuple[Any, ...]] = Counter()
        for r in rows:
            seconds = (r.decided_at - r.created_at).total_seconds()
            shard = shard_of(int(r.id))
            times[
                (
                    int(r.workflow_id),
                    _day(r.decided_at),
                    r.route or NO_ROUTE,
                    durations.bucket_of(seconds),
                    shard,
                )
            ] += 1
            key: tuple[Any, ...] = (
                int(r.workflow_id),
                _day(r.decided_at),
                r.route or NO_ROUTE,
                bool(r.qa_sample),
                shard,
            )
            counts[key] += 1
            overrides[key] += 1 if r.override is True else 0
        _add(
            session,
            t.decision_rollups,
            ("workflow_id", "day", "route", "qa_sample", "shard"),
            [{"n": n, "overridden": overrides[k]} for k, n in sorted(counts.items())],
            sorted(counts),
        )
        _add(
            session,
            t.decision_time_rollups,
            ("workflow_id", "day", "route", "bucket", "shard"),
            [{"n": n} for _, n in sorted(times.items())],
            sorted(times),
        )
    if routed_ids:
        rows = session.execute(
            sa.select(i.workflow_id, i.routed_at, i.route, i.confidence).where(
                i.id.in_(sorted(set(routed_ids))),
                i.routed_at.is_not(None),
                i.confidence.is_not(None),
                i.gold_label.is_(None),
            )
        )
        buckets: Counter[tuple[Any, ...]] = Counter()
        for r in rows:
            key = (
                int(r.workflow_id),
                _day(r.routed_at),
                r.route or NO_ROUTE,
                bucket_of(float(r.confidence)),
            )
            buckets[key] += 1
        _add(
            session,
            t.confidence_rollups,
            ("workflow_id", "day", "route", "bucket"),
            [{"n": n} for _, n in sorted(buckets.items())],
            sorted(buckets),
        )


def record_received(session: Session, items: Sequence[tuple[int, datetime]]) -> None:
    """Count items just created, by (workflow_id, created_at) day."""
    counts = Counter((workflow_id, _day(created)) for workflow_id, created in items)
    keys = sorted(counts)
    _add(
        session, t.received_rollups, ("workflow_id", "day"), [{"n": counts[k]} for k in keys], keys
    )


def _add(
    session: Session,
    table: sa.Table,
    key_names: tuple[str, ...],
    amounts: list[dict[str, int]],
    keys: list[tuple[Any, ...]],
) -> None:
    """Upsert counters, adding to what is there; keys sorted so lockers never deadlock."""
    if not keys:
        return
    rows = [dict(zip(key_names, k, strict=True)) | a for k, a in zip(keys, amounts, strict=True)]
    dialect = engine.dialect_name(session)
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    statement = insert.on_conflict_do_update(
        index_elements=list(key_names),
        set_={name: table.c[name] + insert.excluded[name] for name in amounts[0]},
    )
    session.execute(statement, rows)


def _cut(since: datetime) -> datetime:
    """The first midnight at or after `since`: whole days from here come from rollups."""
    since = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
    midnight = since.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == since else midnight + timedelta(days=1)


def _in(column: Any, workflow_ids: Sequence[int] | None) -> Any:
    return sa.true() if workflow_ids is None else column.in_(list(workflow_ids))


def decisions(
    session: Session, workflow_ids: Sequence[int] | None, since: datetime | None
) -> list[DecisionRow]:
    """As `metrics.decisions`: decided items by (workflow, day, route, qa_sample)."""
    d = t.decision_rollups.c
    query = sa.select(d.workflow_id, d.day, d.route, d.qa_sample, d.n, d.overridden).where(
        _in(d.workflow_id, workflow_ids)
    )
    partial: Iterable[Any] = []
    if since is not None:
        cut = _cut(since)
        query = query.where(d.day >= cut.date().isoformat())
        if cut > since:
            partial = raw.decisions(session, workflow_ids, since, until=cut)
    merged: Counter[tuple[Any, ...]] = Counter()
    overridden: Counter[tuple[Any, ...]] = Counter()
    for r in [*session.execute(query), *partial]:
        key = (int(r.workflow_id), str(r.day), r.route or None, bool(r.qa_sample))
        merged[key] += int(r.n)
        overridden[key] += int(r.overridden)
    return [
        DecisionRow(k[0], k[1], k[2], k[3], n, overridden[k])
        for k, n in sorted(merged.items(), key=str)
    ]


def confidence_histogram(
    session: Session, workflow_ids: Sequence[int] | None, since: datetime | None, bins: int
) -> list[HistogramRow]:
    """As `metrics.confidence_histogram`, for the rollup's resolution (`bins` == BINS)."""
    if bins != BINS:
        return [
            HistogramRow(r.route, r.bucket, r.n)
            for r in raw.confidence_histogram(session, workflow_ids, since, bins)
        ]
    c = t.confidence_rollups.c
    query = (
        sa.select(c.route, c.bucket, sa.func.sum(c.n).label("n"))
        .where(_in(c.workflow_id, workflow_ids))
        .group_by(c.route, c.bucket)
    )
    partial: Iterable[Any] = []
    if since is not None:
        cut = _cut(since)
        query = query.where(c.day >= cut.date().isoformat())
        if cut > since:
            partial = raw.confidence_histogram(session, workflow_ids, since, bins, until=cut)
    merged: Counter[tuple[str | None, int]] = Counter()
    for r in [*session.execute(query), *partial]:
        merged[(r.route or None, int(r.bucket))] += int(r.n)
    return [HistogramRow(*k, n) for k, n in sorted(merged.items(), key=str)]


def decision_times(
    session: Session, workflow_ids: Sequence[int] | None, since: datetime | None
) -> dict[str, Counter[int]]:
    """Items decided in the window per route: counts per duration bucket (domain/durations)."""
    d = t.decision_time_rollups.c
    query = (
        sa.select(d.route, d.bucket, sa.func.sum(d.n).label("n"))
        .where(_in(d.workflow_id, workflow_ids))
        .group_by(d.route, d.bucket)
    )
    partial: Iterable[tuple[Any, int, int]] = []
    if since is not None:
        cut = _cut(since)
        query = query.where(d.day >= cut.date().isoformat())
        if cut > since:
            partial = raw.decision_duration_buckets(session, workflow_ids, since, until=cut)
    merged: dict[str, Counter[int]] = {}
    for route, bucket, n in [*session.execute(query), *partial]:
        merged.setdefault(route or NO_ROUTE, Counter())[int(bucket)] += int(n)
    return merged


def items_received(
    session: Session, workflow_ids: Sequence[int] | None, since: datetime | None
) -> int:
    """As `metrics.items_received`: items created in the window."""
    r = t.received_rollups.c
    query = sa.select(sa.func.coalesce(sa.func.sum(r.n), 0)).where(_in(r.workflow_id, workflow_ids))
    partial = 0
    if since is not None:
        cut = _cut(since)
        query = query.where(r.day >= cut.date().isoformat())
        if cut > since:
            partial = raw.items_received(session, workflow_ids, since, until=cut)
    return int(session.execute(query).scalar_one()) + partial
