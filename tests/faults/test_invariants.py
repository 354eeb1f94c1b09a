"""The invariant checker itself: it passes a clean run and names each kind of breakage.

A small run through the API (TestClient) and the services, then the database, the
recorded traffic or the received webhooks are damaged one way at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.domain import audit as audit_rules
from signoff.services import delivery, processing
from signoff.services.context import Context, create_context
from signoff.storage import engine, state
from signoff.storage import tables as t
from tests.conftest import Keys, make_settings
from tests.faults import flows, invariants
from tests.faults import traffic as wire


@dataclass
class Run:
    url: str
    ctx: Context
    traffic: wire.Traffic
    receiver: wire.Receiver
    auto_id: int
    review_id: int
    task_id: int

    def problems(self) -> list[str]:
        return invariants.check(self.url, self.traffic, self.receiver)

    def execute(self, statement: sa.Executable) -> None:
        with engine.transaction(self.ctx.sessions) as session:
            session.execute(statement)


@pytest.fixture
def run_url(request: pytest.FixtureRequest) -> str:
    """SQLite unless a test asks for `postgres` (the checker's logic is the same on both)."""
    dialect = getattr(request, "param", "sqlite")
    return str(request.getfixturevalue("pg_url" if dialect == "postgres" else "sqlite_url"))


@pytest.fixture
def run(run_url: str, receiver: wire.Receiver) -> Iterator[Run]:
    """One auto-decided item (webhook delivered) and one item decided by a reviewer."""
    db_url = run_url
    ctx = create_context(make_settings(db_url))
    keys = Keys(ctx)
    traffic = wire.Traffic()
    try:
        with TestClient(create_app(ctx=ctx)) as client:
            client.event_hooks = traffic.hook("api")
            put = client.put(
                "/api/v1/workflows/faults",
                content=flows.workflow(receiver.url),
                headers=keys.auth(keys.admin),
            )
            assert put.status_code == 201, put.text
            ids = []
            for n in (0, 1):
                response = client.post(
                    "/api/v1/workflows/faults/items",
                    json={"content": flows.content(n)},
                    headers={**keys.auth(keys.service), "Idempotency-Key": f"k{n}"},
                )
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])
            processing.process_batch(ctx, "w", processing.ProviderCache(ctx), 10)
            task = client.post("/api/v1/reviews/claim", headers=keys.auth(keys.reviewer)).json()
            decided = client.post(
                f"/api/v1/tasks/{task['id']}/decision",
                json={"outcome": "approved"},
                headers=keys.auth(keys.reviewer),
            )
            assert decided.status_code == 200, decided.text
        while delivery.send_due(ctx):
            pass
        yield Run(db_url, ctx, traffic, receiver, ids[0], ids[1], int(task["id"]))
    finally:
        ctx.close()


@pytest.mark.parametrize(
    "run_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_clean_run_breaks_no_invariant(run: Run) -> None:
    assert run.problems() == []


def _lose_item(run: Run) -> None:
    run.execute(sa.delete(t.audit_events).where(t.audit_events.c.item_id == run.auto_id))
    messages = sa.select(t.outbox.c.id).where(t.outbox.c.item_id == run.auto_id)
    run.execute(sa.delete(t.delivery_attempts).where(t.delivery_attempts.c.outbox_id.in_(messages)))
    run.execute(sa.delete(t.outbox).where(t.outbox.c.item_id == run.auto_id))
    run.execute(sa.delete(t.items).where(t.items.c.id == run.auto_id))


def _second_decision(run: Run) -> None:
    with engine.transaction(run.ctx.sessions) as session:
        state.append_item_event(
            session,
            run.auto_id,
            audit_rules.EventKind.DECIDED,
            "user:reviewer@example.com",
            {"outcome": "rejected"},
            datetime.now(UTC),
        )


def _state_without_event(run: Run) -> None:
    run.execute(sa.update(t.items).where(t.items.c.id == run.auto_id).values(state="rejected"))


def _held_twice(run: Run) -> None:
    with engine.transaction(run.ctx.sessions) as session:
        for actor in ("user:a@example.com", "user:b@example.com"):
            state.append_item_event(
                session,
                run.review_id,
                audit_rules.EventKind.ASSIGNED,
                actor,
                {"task_id": run.task_id},
                datetime.now(UTC),
            )


def _two_decided_tasks(run: Run) -> None:
    with engine.transaction(run.ctx.sessions) as session:
        task = session.execute(
            sa.select(t.review_tasks).where(t.review_tasks.c.id == run.task_id)
        ).one()
        row = {k: v for k, v in task._mapping.items() if k != "id"}
        # Without an assignee: one task per reviewer and item is a unique index.
        session.execute(sa.insert(t.review_tasks).values(**{**row, "assignee_id": None}))


def _tampered_event(run: Run) -> None:
    run.execute(
        sa.update(t.audit_events)
        .where(t.audit_events.c.item_id == run.review_id, t.audit_events.c.seq == 1)
        .values(actor="someone-else")
    )


def _server_error(run: Run) -> None:
    run.traffic.add(wire.Exchange("GET", "/api/v1/items", None, 500, {}, None, "api"))


def _503_without_retry_after(run: Run) -> None:
    run.traffic.add(wire.Exchange("GET", "/api/v1/items", None, 503, {}, None, "api"))


def _webhook_under_new_id(run: Run) -> None:
    original = run.receiver.snapshot()[0]
    run.receiver.deliveries.append(wire.Delivery("msg_other", original.payload, 200))


def _stuck_in_outbox(run: Run) -> None:
    run.execute(
        sa.update(t.outbox)
        .where(t.outbox.c.item_id == run.auto_id)
        .values(status="pending", last_error=None, attempts=3)
    )


def _never_delivered(run: Run) -> None:
    run.receiver.deliveries.clear()


DAMAGE: dict[str, tuple[Callable[[Run], None], str]] = {
    "acknowledged item lost": (_lose_item, "was acknowledged (201) but does not exist"),
    "decided twice": (_second_decision, "has 2 decision events"),
    "state change without its event": (_state_without_event, "but its audit chain says"),
    "task held by two reviewers": (_held_twice, "held by user:a@example.com and user:b"),
    "two decided tasks for one item": (_two_decided_tasks, "has 2 decided tasks"),
    "audit event tampered with": (_tampered_event, "audit verify:"),
    "a 500 served": (_server_error, "answered 500"),
    "a 503 without Retry-After": (_503_without_retry_after, "503 without Retry-After"),
    "webhook-id changed on retry": (_webhook_under_new_id, "arrived under webhook-ids"),
    "outbox message stuck without reason": (_stuck_in_outbox, "waits without a reason"),
    "sent webhook never received": (_never_delivered, "no 2xx delivery seen"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_the_checker_names_each_broken_invariant(run: Run, damage: str) -> None:
    breaks, sentence = DAMAGE[damage]
    breaks(run)
    problems = run.problems()
    assert any(sentence in p for p in problems), problems
    with pytest.raises(invariants.InvariantBroken):
        invariants.assert_holds(run.url, run.traffic, run.receiver)
