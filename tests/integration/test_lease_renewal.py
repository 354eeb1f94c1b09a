"""A worker keeps its leases while a long batch is at the AI step."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from signoff.clock import FrozenClock
from signoff.services import intake, processing
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.settings import Settings
from signoff.storage import audit
from signoff.testing import fake_provider


@pytest.fixture
def slow_ctx(settings: Settings) -> Iterator[tuple[Context, FrozenClock]]:
    clock = FrozenClock()
    context = create_context(
        settings.model_copy(
            update={"worker": settings.worker.model_copy(update={"lease_seconds": 60.0})}
        ),
        clock=clock,
    )
    yield context, clock
    context.close()
    fake_provider.clear_scripts()


def test_a_batch_slower_than_the_lease_is_still_recorded_by_its_worker(
    slow_ctx: tuple[Context, FrozenClock],
) -> None:
    ctx, clock = slow_ctx

    def slow(item: object) -> dict[str, object]:
        clock.advance(seconds=40)  # each prediction takes two thirds of the lease
        return {"label": "ok", "confidence": 0.99}

    fake_provider.script("slow", slow)
    workflow_service.apply_workflow(
        ctx,
        {
            "name": "slow",
            "labels": ["ok"],
            "ai": {"provider": "fake", "options": {"script": "slow"}},
            "routing": {"threshold": 0.5},
        },
        "test",
    )
    submitted = intake.submit_items(
        ctx, "slow", [intake.NewItem(content={"text": str(i)}) for i in range(4)], "test"
    )
    assert processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 10) == 4
    with ctx.sessions() as session:
        for s in submitted:
            events = [e.type for e in audit.list_item_events(session, s.item_id)]
            assert events == ["received", "claimed", "auto_decided"]
