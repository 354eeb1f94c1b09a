"""Dashboard rollups equal the aggregates over all items, for every window, and survive a backfill."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.clock import FrozenClock
from signoff.domain import durations
from signoff.services import intake, processing, review, users, workflows
from signoff.services.context import Context, create_context
from signoff.settings import Settings
from signoff.storage import metrics as raw
from signoff.storage import migrate, rollups
from signoff.storage import tables as t
from tests.conftest import Keys

T0 = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)

DOCS = """
name: docs
labels: [invoice, contract, receipt, other]
ai: {provider: fake, retries: 0}
routing: {threshold: 0.8, qa_sample_rate: 0.3}
"""
OTHER = """
name: other
labels: [invoice, other]
ai: {provider: fake, retries: 0}
routing: {threshold: 0.5}
"""
CONFIDENCES = (0.96, 0.93, 0.52, 0.61, 0.33, 0.85, 0.05, 0.999, 0.8, 0.45)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def rctx(settings: Settings, clock: FrozenClock) -> Iterator[Context]:
    context = create_context(settings, clock=clock)
    yield context
    context.close()


def _decide_all(ctx: Context, workflow: str, labels: list[str]) -> None:
    who = next(u for u in users.list_users(ctx) if u.email == "reviewer@example.com")
    principal = users.principal_for_user(ctx, who.id)
    assert principal is not None
    for label in labels:
        task = review.claim_next_task(ctx, principal, workflow)
        if task is None:
            return
        review.decide(
            ctx, principal, task.id, review.DecisionInput(outcome="approved", label=label)
        )


@pytest.fixture
def seeded(rctx: Context, clock: FrozenClock) -> Keys:
    """Three UTC days of intake, routing and decisions (some overridden) in two workflows."""
    keys = Keys(rctx)
    workflows.apply_workflow(rctx, DOCS, "test")
    workflows.apply_workflow(rctx, OTHER, "test")
    providers = processing.ProviderCache(rctx)
    for day in range(3):
        for n, confidence in enumerate(CONFIDENCES):
            for name in ("docs", "other"):
                content = {"text": f"d{day} {n}", "label": "invoice", "confidence": confidence}
                intake.submit_item(rctx, name, intake.NewItem(content=content), "key:test")
        clock.advance(minutes=20)
        processing.process_batch(rctx, "test", providers, 100)
        clock.advance(minutes=50)  # past midnight on the first day: decided the next
        _decide_all(rctx, "docs", ["receipt", "invoice", "invoice", "other"])
        _decide_all(rctx, "other", ["invoice", "other"])
        clock.advance(hours=23)
    return keys


def _raw_decisions(session: Any, since: datetime | None) -> list[tuple[Any, ...]]:
    rows = raw.decisions(session, None, since)
    return sorted(
        (int(r.workflow_id), r.day, r.route, bool(r.qa_sample), int(r.n), int(r.overridden))
        for r in rows
    )


def _raw_histogram(session: Any, since: datetime | None) -> list[tuple[Any, ...]]:
    rows = raw.confidence_histogram(session, None, since, rollups.BINS)
    return sorted((r.route, int(r.bucket), int(r.n)) for r in rows)


def _windows(clock: FrozenClock) -> list[datetime | None]:
    now = clock.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return [None, now - timedelta(days=7), now - timedelta(hours=30), midnight, T0, now]


def test_rollups_equal_the_aggregates_over_all_items_for_every_window(
    rctx: Context, seeded: Keys, clock: FrozenClock
) -> None:
    with rctx.sessions() as session:
        assert _raw_decisions(session, None), "the seed decided nothing"
        routes = {r[2] for r in _raw_decisions(session, None)}
        assert routes == {"auto", "human"}
        assert any(r[5] for r in _raw_decisions(session, None)), "no override seeded"
        assert len({r[1] for r in _raw_decisions(session, None)}) >= 3
        for since in _windows(clock):
            got = sorted(tuple(r) for r in rollups.decisions(session, None, since))
            assert got == _raw_decisions(session, since), since
            received = rollups.items_received(session, None, since)
            assert received == raw.items_received(session, None, since), since
            hist = sorted(tuple(r) for r in rollups.confidence_histogram(session, None, since, 20))
            assert hist == _raw_histogram(session, since), since


def _durations(session: Any, since: datetime | None) -> list[tuple[str | None, float]]:
    """(route, seconds from intake to decision) of every item decided since `since`."""
    i = t.items.c
    query = sa.select(i.route, i.created_at, i.decided_at).where(i.decided_at.is_not(None))
    if since is not None:
        query = query.where(i.decided_at >= since)
    return [
        (r.route, (r.decided_at - r.created_at).total_seconds()) for r in session.execute(query)
    ]


def test_bucketed_time_to_decision_is_within_a_bucket_of_the_exact_percentiles(
    rctx: Context, seeded: Keys, clock: FrozenClock
) -> None:
    with rctx.sessions() as session:
        for since in _windows(clock):
            buckets = rollups.decision_times(session, None, since)
            exact = {
                r: [s for route, s in _durations(session, since) if route == r]
                for r in ("auto", "human")
            }
            # The partial-day query buckets as the rollups do (in SQL on PostgreSQL).
            by_sql = sorted(raw.decision_duration_buckets(session, None, since))
            by_row = Counter(
                (route, durations.bucket_of(seconds))
                for route, seconds in _durations(session, since)
            )
            assert by_sql == sorted((r, b, n) for (r, b), n in by_row.items()), since
            for route, values in exact.items():
                counts = buckets.get(route, {})
                assert sum(counts.values()) == len(values), (since, route)
                # The old computation: every row's seconds, numpy's percentile.
                for q in (50, 90):
                    got = durations.percentile(counts, q)
                    if not values:
                        assert got is None
                        continue
                    want = float(np.percentile(values, q))
                    assert got is not None
                    assert want / durations.WIDTH <= got <= want * durations.WIDTH, (since, q)


def test_summary_over_http_reads_the_rollups_and_matches_the_raw_counts(
    rctx: Context, seeded: Keys
) -> None:
    with rctx.sessions() as session:
        expected = _raw_decisions(session, None)
    with TestClient(create_app(ctx=rctx)) as client:
        response = client.get(
            "/api/v1/metrics/summary?since=all", headers=seeded.auth(seeded.auditor)
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["decisions"]["total"] == sum(r[4] for r in expected)
    assert body["decisions"]["auto"] == sum(r[4] for r in expected if r[2] == "auto")
    assert body["overridden"] == sum(r[5] for r in expected if r[2] == "human")
    with rctx.sessions() as session:
        # The rollups, not the items, are what the summary counted: scale them and it follows.
        session.execute(sa.update(t.decision_rollups).values(n=t.decision_rollups.c.n * 2))
        session.commit()
    with TestClient(create_app(ctx=rctx)) as client:
        again = client.get("/api/v1/metrics/summary?since=all", headers=seeded.auth(seeded.auditor))
    assert again.json()["decisions"]["total"] == 2 * body["decisions"]["total"]


def _unsharded(connection: Any, table: sa.Table) -> list[Any]:
    """A sharded rollup's rows with their shards added up (a backfill writes shard 0)."""
    keys = [c for c in table.c if c.primary_key and c.name != "shard"]
    values = [sa.func.sum(c).label(c.name) for c in table.c if not c.primary_key]
    query = sa.select(*keys, *values).group_by(*keys)
    return sorted(tuple(r) for r in connection.execute(query))


def test_the_migration_backfills_the_same_counters_the_decisions_wrote(
    rctx: Context, seeded: Keys, db_url: str
) -> None:
    def snapshot() -> tuple[list[Any], ...]:
        engine = sa.create_engine(db_url)
        try:
            with engine.connect() as connection:
                d = _unsharded(connection, t.decision_rollups)
                c = sorted(tuple(r) for r in connection.execute(sa.select(t.confidence_rollups)))
                r = sorted(tuple(r) for r in connection.execute(sa.select(t.received_rollups)))
                s = _unsharded(connection, t.decision_time_rollups)
        finally:
            engine.dispose()
        return d, c, r, s

    rctx.close()  # no pooled connection may hold the tables the downgrade drops
    live = snapshot()
    assert all(live)
    command.downgrade(migrate.alembic_config(db_url), "0008_rollups-1")
    migrate.upgrade(db_url)
    assert snapshot() == live
