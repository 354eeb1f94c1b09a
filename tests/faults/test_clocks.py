"""Leases and holds that lapse while work is written, and a worker whose clock is skewed.

In process, on SQLite and PostgreSQL: each actor gets its own Context and clock on
the same database (FrozenClock: time moves by hand, nobody sleeps).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.clock import Clock, DatabaseClock, FrozenClock, SystemClock
from signoff.domain.prediction import Prediction
from signoff.domain.workflow import WorkflowSpec
from signoff.services import processing
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from tests.conftest import Keys, make_settings
from tests.faults import flows, invariants
from tests.faults import traffic as wire

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class World:
    """The database, an API on the true clock, and a way to give other actors clocks."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.clock = FrozenClock(START)
        self.ctx = create_context(make_settings(url), clock=self.clock)
        self.keys = Keys(self.ctx)
        self.traffic = wire.Traffic()
        self.contexts: list[Context] = [self.ctx]
        workflow_service.apply_workflow(self.ctx, flows.workflow(), "admin")

    def actor(self, clock: Clock) -> Context:
        ctx = create_context(make_settings(self.url), clock=clock)
        self.contexts.append(ctx)
        return ctx

    def api(self) -> TestClient:
        client = TestClient(create_app(ctx=self.ctx))
        client.event_hooks = self.traffic.hook("api")
        return client

    def submit(self, client: TestClient, n: int) -> int:
        response = client.post(
            "/api/v1/workflows/faults/items",
            json={"content": flows.content(n)},
            headers=self.keys.auth(self.keys.service),
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    w = World(db_url)
    try:
        yield w
    finally:
        w.close()


def _answers(
    work: list[processing._Work], ctx: Context
) -> list[tuple[processing._Work, WorkflowSpec, Prediction]]:
    results = []
    for w in work:
        spec = workflow_service.get_spec(ctx, w.workflow_id, w.version)
        prediction = Prediction(
            label=w.content["label"], confidence=w.content["confidence"], model="late"
        )
        results.append((w, spec, prediction))
    return results


def test_an_ai_lease_lapsing_while_its_result_is_written_keeps_one_decision(
    world: World,
) -> None:
    with world.api() as client:
        item_id = world.submit(client, 0)
    slow = world.actor(world.clock)
    work = processing.claim_batch(slow, "slow-worker", 10)
    assert [w.item_id for w in work] == [item_id]
    world.clock.advance(seconds=world.ctx.settings.worker.lease_seconds + 1)
    # Another worker recovers the lapsed lease and decides; the slow one writes late.
    assert processing.process_batch(
        world.ctx, "fast-worker", processing.ProviderCache(world.ctx), 10
    )
    processing.record_results(slow, "slow-worker", _answers(work, slow))
    invariants.assert_holds(world.url, world.traffic)
    types = flows.event_types(world.url)
    assert types.count("auto_decided") == 1 and types.count("lease_recovered") == 1, types


def test_a_review_hold_lapsing_while_its_decision_is_written_keeps_one_decision(
    world: World,
) -> None:
    with world.api() as client:
        item_id = world.submit(client, 1)  # a person reviews it
        processing.process_batch(world.ctx, "worker", processing.ProviderCache(world.ctx), 10)
        first = client.post("/api/v1/reviews/claim", headers=world.keys.auth(world.keys.reviewer))
        assert first.status_code == 200, first.text
        task_id = first.json()["id"]
        world.clock.advance(minutes=world.ctx.settings.review.claim_minutes + 1)
        second = client.post("/api/v1/reviews/claim", headers=world.keys.auth(world.keys.reviewer2))
        assert second.status_code == 200 and second.json()["id"] == task_id, second.text
        late = client.post(
            f"/api/v1/tasks/{task_id}/decision",
            json={"outcome": "approved"},
            headers=world.keys.auth(world.keys.reviewer),
        )
        assert late.status_code == 409, late.text
        decided = client.post(
            f"/api/v1/tasks/{task_id}/decision",
            json={"outcome": "rejected"},
            headers=world.keys.auth(world.keys.reviewer2),
        )
        assert decided.status_code == 200, decided.text
        item = client.get(f"/api/v1/items/{item_id}", headers=world.keys.auth(world.keys.admin))
        assert item.json()["decision"]["decided_by"] == "user:reviewer2@example.com"
    invariants.assert_holds(world.url, world.traffic)


def _on_the_machine_clock(world: World, skew: timedelta) -> Context:
    """A worker's context on its own machine's clock, `skew` off, as `signoff worker` has."""
    settings = make_settings(world.url, testing={"clock_skew_seconds": skew.total_seconds()})
    ctx = create_context(settings)
    world.contexts.append(ctx)
    return ctx


def test_a_worker_whose_clock_runs_ahead_takes_no_live_lease(world: World) -> None:
    with world.api() as client:
        world.submit(client, 0)
    holder = _on_the_machine_clock(world, timedelta(0))
    assert len(processing.claim_batch(holder, "on-time-worker", 10)) == 1
    # Five minutes ahead is past the lease: by its own clock the lease has lapsed.
    ahead = _on_the_machine_clock(world, timedelta(minutes=5))
    assert isinstance(ahead.clock, DatabaseClock)
    assert abs(ahead.clock.offset + timedelta(minutes=5)) < timedelta(seconds=5)
    stolen = processing.claim_batch(ahead, "skewed-worker", 10)
    assert stolen == [], "a live lease (by the database's clock) went to a second worker"

    # The same worker reading its own clock uncorrected does take the live lease: what the
    # database clock prevents above.
    uncorrected = world.actor(SystemClock(timedelta(minutes=5)))
    assert len(processing.claim_batch(uncorrected, "skewed-worker", 10)) == 1
