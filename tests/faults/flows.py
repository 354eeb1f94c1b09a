"""Steps the fault scenarios share: submit a mixed batch, review everything, wait for the end."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from tests.faults import stack as stacks

FINAL = ("approved", "rejected", "archived", "cancelled")


def workflow(
    webhook_url: str | None = None, *, function: str = "tests.faults.gated:predict"
) -> str:
    """The scenarios' workflow: a python model, fixed threshold, optional webhook."""
    delivery = f"delivery: {{webhook_url: '{webhook_url}'}}\n" if webhook_url else ""
    return (
        "name: faults\n"
        "labels: [invoice, other]\n"
        f"ai: {{provider: python, retries: 0, options: {{function: '{function}'}}}}\n"
        "routing: {threshold: 0.85}\n"
        "review: {outcomes: [approved, rejected]}\n"
        f"{delivery}"
    )


def content(n: int, *, last: bool = False) -> dict[str, Any]:
    """Even items are confident (auto), odd ones go to a person."""
    confident = n % 2 == 0
    body: dict[str, Any] = {
        "text": f"document {n}",
        "label": "invoice" if confident else "other",
        "confidence": 0.95 if confident else 0.5,
    }
    if last:
        body["last"] = True
    return body


def submit(app: httpx.Client, count: int, *, start: int = 0) -> list[int]:
    """Submit `count` items one by one (the last one says so); returns their ids."""
    ids = []
    for n in range(start, start + count):
        response = app.post(
            "/api/v1/workflows/faults/items",
            json={"content": content(n, last=n == start + count - 1), "external_id": f"doc-{n}"},
            headers={"Idempotency-Key": f"doc-{n}"},
        )
        assert response.status_code == 201, response.text
        ids.append(int(response.json()["id"]))
    return ids


def states(url: str) -> dict[int, str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {r.id: r.state for r in conn.execute(sa.text("SELECT id, state FROM items"))}
    finally:
        engine.dispose()


def pending_webhooks(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(sa.text("SELECT count(*) FROM outbox WHERE status <> 'sent'")).scalar()
                or 0
            )
    finally:
        engine.dispose()


def leases(url: str) -> dict[int, str]:
    """item id -> lease owner of every item in processing."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT id, lease_owner FROM items WHERE state = 'processing'")
            )
            return {r.id: str(r.lease_owner) for r in rows}
    finally:
        engine.dispose()


def event_types(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [r.type for r in conn.execute(sa.text("SELECT type FROM audit_events"))]
    finally:
        engine.dispose()


def review_until_settled(
    stack: stacks.Stack,
    reviewer: httpx.Client,
    expected: int,
    *,
    alive: tuple[str, ...] = (),
    delivered: bool = True,
) -> None:
    """Decide every human task until all `expected` items are final (and webhooks sent)."""

    def settled() -> bool:
        while True:
            claim = reviewer.post("/api/v1/reviews/claim")
            if claim.status_code == 204:
                break
            assert claim.status_code == 200, claim.text
            task = claim.json()
            outcome = "approved" if task["item_id"] % 3 else "rejected"
            decision = reviewer.post(
                f"/api/v1/tasks/{task['id']}/decision", json={"outcome": outcome}
            )
            assert decision.status_code == 200, decision.text
        now = states(stack.url)
        done = len(now) == expected and all(s in FINAL for s in now.values())
        return done and (not delivered or pending_webhooks(stack.url) == 0)

    stack.wait(settled, f"{expected} items decided and delivered", alive=alive)
