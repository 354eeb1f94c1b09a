"""A queue ordered to learn within the SLA: least sure (or rarest label) first among tasks
not at risk; tasks at risk keep due order; the claim reads an index, never sorts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.clock import FrozenClock
from signoff.services import processing, training
from signoff.services.context import Context, create_context
from signoff.storage import tables as t
from signoff.storage import tasks
from tests.conftest import Keys, make_settings

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def _workflow(order: str) -> str:
    return f"""
name: docs
labels: [invoice, receipt, other]
ai: {{provider: fake, retries: 0}}
routing: {{threshold: 0.95}}
review: {{order: {order}, order_margin: 1h, sla: {{due_in: 24h}}}}
"""


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def ctx(db_url: str, clock: FrozenClock) -> Iterator[Context]:
    context = create_context(make_settings(db_url), clock=clock)
    yield context
    context.close()


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx=ctx)) as test_client:
        yield test_client


def _apply(client: TestClient, keys: Keys, order: str) -> None:
    put = client.put(
        "/api/v1/workflows/docs", content=_workflow(order), headers=keys.auth(keys.admin)
    )
    assert put.status_code == 201, put.text


def _submit(
    client: TestClient, keys: Keys, ctx: Context, answers: list[tuple[str, float]]
) -> list[int]:
    response = client.post(
        "/api/v1/workflows/docs/items/batch",
        json={"items": [{"content": {"label": lab, "confidence": c}} for lab, c in answers]},
        headers=keys.auth(keys.admin),
    )
    assert response.status_code == 201, response.text
    processing.process_batch(ctx, "w", processing.ProviderCache(ctx), 100)
    return [r["id"] for r in response.json()["items"]]


def _review_all(client: TestClient, keys: Keys) -> list[int]:
    """Item ids in the order a reviewer is offered them, deciding each."""
    seen = []
    while True:
        claimed = client.post("/api/v1/reviews/claim", headers=keys.auth(keys.reviewer))
        if claimed.status_code == 204:
            return seen
        assert claimed.status_code == 200, claimed.text
        task = claimed.json()
        seen.append(task["item_id"])
        decided = client.post(
            f"/api/v1/tasks/{task['id']}/decision",
            json={"outcome": "approved"},
            headers=keys.auth(keys.reviewer),
        )
        assert decided.status_code == 200, decided.text


def test_least_sure_first_among_tasks_not_at_risk_and_at_risk_tasks_keep_due_order(
    client: TestClient, keys: Keys, ctx: Context, clock: FrozenClock
) -> None:
    _apply(client, keys, "uncertainty")
    old = _submit(client, keys, ctx, [("invoice", 0.9), ("receipt", 0.2), ("other", 0.5)])
    # 23.5 hours later the first three are due within the 1 h margin: at risk.
    clock.advance(hours=23, minutes=30)
    new = _submit(client, keys, ctx, [("invoice", 0.7), ("receipt", 0.1), ("other", 0.4)])
    assert _review_all(client, keys) == [*old, new[1], new[2], new[0]]


def test_without_risk_the_least_sure_come_first(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, "uncertainty")
    ids = _submit(client, keys, ctx, [("invoice", 0.9), ("receipt", 0.2), ("other", 0.5)])
    assert _review_all(client, keys) == [ids[1], ids[2], ids[0]]


def test_due_order_stays_the_default(client: TestClient, keys: Keys, ctx: Context) -> None:
    _apply(client, keys, "due")
    ids = _submit(client, keys, ctx, [("invoice", 0.9), ("receipt", 0.2), ("other", 0.5)])
    with ctx.sessions() as session:
        assert session.execute(sa.select(t.review_tasks.c.priority)).scalars().all() == [None] * 3
    assert _review_all(client, keys) == ids


def test_rarest_label_first_by_the_labels_learned_so_far(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, "rarest_label")
    training.import_labels(
        ctx, "docs", [("an invoice", "invoice")] * 8 + [("a receipt", "receipt")] * 2
    )
    ids = _submit(client, keys, ctx, [("invoice", 0.5), ("receipt", 0.5), ("other", 0.5)])
    with ctx.sessions() as session:
        rows = session.execute(sa.select(t.review_tasks.c.item_id, t.review_tasks.c.priority)).all()
    assert dict(rows) == {ids[0]: 0.8, ids[1]: 0.2, ids[2]: 0.0}
    assert _review_all(client, keys) == [ids[2], ids[1], ids[0]]


def test_the_learning_probe_reads_its_index_without_sorting(sqlite_url: str) -> None:
    context = create_context(make_settings(sqlite_url))
    statements: list[tuple[str, object]] = []

    def record(_c: object, _cur: object, statement: str, parameters: object, *_a: object) -> None:
        statements.append((statement, parameters))

    try:
        with context.sessions() as session:
            sa.event.listen(context.engine, "before_cursor_execute", record)
            try:
                tasks.list_claimable_tasks(session, None, START)
            finally:
                sa.event.remove(context.engine, "before_cursor_execute", record)
            [(learn, params)] = [s for s in statements if "priority IS NOT NULL" in s[0]]
            plan = " ".join(
                str(r[-1])
                for r in session.connection().exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {learn}",
                    params,  # type: ignore[arg-type]
                )
            )
    finally:
        context.close()
    assert "ix_review_tasks_learn" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
