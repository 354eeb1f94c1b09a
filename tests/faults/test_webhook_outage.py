"""The webhook receiver down for hours, then back: the injectable clock moves, nobody sleeps.

The API (FastAPI's TestClient), the AI step and the outbox sender run in this process
on one `FrozenClock`; the receiver is a real HTTP server on 127.0.0.1 answering 503
for six hours of that clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.clock import FrozenClock
from signoff.services import delivery, processing
from signoff.services.context import Context, create_context
from tests.conftest import Keys, make_settings
from tests.faults import flows, invariants
from tests.faults import traffic as wire

ITEMS = 6


@pytest.fixture
def clocked(db_url: str) -> Iterator[tuple[Context, FrozenClock]]:
    clock = FrozenClock()
    ctx = create_context(make_settings(db_url), clock=clock)
    try:
        yield ctx, clock
    finally:
        ctx.close()


def _deliver(ctx: Context) -> None:
    while delivery.send_due(ctx):
        pass


def test_receiver_down_for_hours_gets_every_decision_once_back_under_one_id(
    db_url: str, clocked: tuple[Context, FrozenClock], receiver: wire.Receiver
) -> None:
    ctx, clock = clocked
    keys = Keys(ctx)
    traffic = wire.Traffic()
    with TestClient(create_app(ctx=ctx)) as client:
        client.event_hooks = traffic.hook("app")
        workflow = flows.workflow(receiver.url)
        applied = client.put(
            "/api/v1/workflows/faults", content=workflow, headers=keys.auth(keys.admin)
        )
        assert applied.status_code == 201, applied.text
        for n in range(ITEMS):
            response = client.post(
                "/api/v1/workflows/faults/items",
                json={"content": flows.content(2 * n)},  # confident: decided by the AI
                headers={**keys.auth(keys.service), "Idempotency-Key": f"k{n}"},
            )
            assert response.status_code == 201, response.text
    providers = processing.ProviderCache(ctx)
    while processing.process_batch(ctx, "worker-1", providers, 50):
        pass

    receiver.down(503)
    for _ in range(6 * 6):  # six hours in ten-minute steps
        _deliver(ctx)
        clock.advance(minutes=10)
    during = receiver.snapshot()
    invariants.assert_holds(db_url, traffic, receiver, invariants.Expect(delivered=False))
    per_message = Counter(d.webhook_id for d in during)
    assert len(per_message) == ITEMS
    # Backing off: retried all along, but not every ten minutes for six hours.
    assert all(4 <= n < 30 for n in per_message.values()), per_message

    receiver.up()
    for _ in range(12):  # the longest backoff is an hour
        _deliver(ctx)
        clock.advance(minutes=10)
    invariants.assert_holds(db_url, traffic, receiver)
    delivered = Counter(d.webhook_id for d in receiver.snapshot() if d.status == 200)
    assert delivered == dict.fromkeys(per_message, 1)
