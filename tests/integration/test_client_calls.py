"""Every call of Client and AsyncClient against a live server with workers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from signoff.client import ApiError, AsyncClient, Client, models
from signoff.services.context import Context
from signoff.settings import Settings
from signoff.workers.runner import WorkerPool
from tests.conftest import FAKE_WORKFLOW, Keys, make_settings
from tests.live_server import serve

#: The server's cap on one long-poll; the client's wait must resume across it.
SERVER_WAIT_CAP = 0.5


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, limits={"max_wait_seconds": SERVER_WAIT_CAP})


@pytest.fixture
def server(app: Any, ctx: Context, keys: Keys) -> Iterator[str]:
    pool = WorkerPool(ctx, concurrency=1)
    pool.start()
    with serve(app) as url:
        Client(url, keys.admin).apply_workflow("docs", FAKE_WORKFLOW)
        yield url
    pool.stop()


def _claim(reviewer: Client, workflow: str = "docs") -> models.TaskPublic:
    """The next task, once the worker has routed an item to people."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        task = reviewer.claim(workflow)
        if task is not None:
            return task
        threading.Event().wait(0.05)
    raise AssertionError("no task reached the queue")


def test_workflows_items_pages_cancel_events_and_calibration(server: str, keys: Keys) -> None:
    with Client(server, keys.admin) as client:
        assert client.get_workflow("docs").version == 1
        assert [w.name for w in client.list_workflows()] == ["docs"]
        batch = [
            {"content": {"label": "invoice", "confidence": 0.99}, "idempotency_key": f"b-{n}"}
            for n in range(5)
        ]
        first = client.submit_batch("docs", batch)
        assert [s.created for s in first] == [True] * 5
        replay = client.submit_batch("docs", batch)
        assert [s["id"] for s in replay] == [s["id"] for s in first]
        assert [s.created for s in replay] == [False] * 5

        page = client.list_items(workflow="docs", limit=2)
        assert len(page.items) == 2 and page.next_cursor is not None
        every = list(client.iter_items(workflow="docs", page_size=2))
        assert sorted(i.id for i in every) == sorted(s.id for s in first)

        human = client.submit("docs", {"label": "contract", "confidence": 0.9}, external_id="c-1")
        assert human.external_id == "c-1"
        cancelled = client.cancel(human.id, reason="sent by mistake")
        assert cancelled.state == "cancelled" and cancelled.settled
        trail = client.events(human.id)
        assert trail.verified and "cancelled" in {e.data.get("to") for e in trail.events if e.data}

        for item in first:
            assert client.wait(item.id, timeout=20).state == "approved"
        calibration = client.calibration("docs")
        assert calibration.threshold == 0.85 and calibration.auto_decided == 5

        with pytest.raises(ApiError) as missing:
            client.get(10**9)
        assert missing.value.status == 404 and missing.value.code == "item_not_found"


def test_cancel_while_the_worker_routes_the_item_cancels_it(server: str, keys: Keys) -> None:
    """A cancel racing the worker's queued → in review move still cancels, never a 409."""
    with Client(server, keys.admin) as client:
        for n in range(25):
            item = client.submit("docs", {"label": "contract", "confidence": 0.9})
            if n % 2:
                time.sleep(0.001 * n)  # land some cancels on the worker's move
            cancelled = client.cancel(item.id, reason="race")
            assert cancelled.state == "cancelled", item.id
            assert client.get(item.id).state == "cancelled"


def test_wait_resumes_across_the_servers_per_request_cap_until_its_own_deadline(
    server: str, keys: Keys
) -> None:
    with Client(server, keys.admin) as client, Client(server, keys.reviewer) as reviewer:
        item = client.submit("docs", {"label": "contract", "confidence": 0.99})
        started = time.monotonic()
        waited = client.wait(item.id, timeout=4 * SERVER_WAIT_CAP)
        assert waited.timed_out and waited.state == "in_review"
        assert time.monotonic() - started >= 4 * SERVER_WAIT_CAP

        task = _claim(reviewer)
        assert reviewer.get_task(task.id).status == task.status
        decided: dict[str, models.ItemWaited] = {}
        waiter = threading.Thread(target=lambda: decided.update(item=client.wait(item.id, 30)))
        waiter.start()
        reviewer.decide(task.id, "approved", label="invoice", comment="fine", time_on_task_ms=5)
        waiter.join(40)
        assert decided["item"].state == "approved" and not decided["item"].timed_out
        decision = decided["item"].decision
        assert decision is not None and decision.label == "invoice"
        assert decision["comment"] == "fine" and decision.override is True

        with pytest.raises(ApiError) as again:
            reviewer.decide(task.id, "rejected")
        assert again.value.status == 409


def test_the_async_client_offers_the_same_calls(server: str, keys: Keys) -> None:
    async def run() -> dict[str, Any]:
        async with (
            AsyncClient(server, keys.admin) as app,
            AsyncClient(server, keys.reviewer) as reviewer,
        ):
            assert (await app.get_workflow("docs")).name == "docs"
            assert len(await app.list_workflows()) == 1
            batch = [{"content": {"label": "receipt", "confidence": 0.95}, "idempotency_key": "a"}]
            (submitted,) = await app.submit_batch("docs", batch)
            human = await app.submit(
                "docs", {"label": "contract", "confidence": 0.99}, idempotency_key="h-1"
            )
            again = await app.submit(
                "docs", {"label": "contract", "confidence": 0.99}, idempotency_key="h-1"
            )
            assert again.id == human.id
            page = await app.list_items(workflow="docs", limit=1)
            assert page.next_cursor is not None
            ids = [item.id async for item in app.iter_items(workflow="docs", page_size=1)]
            assert sorted(ids) == sorted([submitted.id, human.id])
            auto = await app.wait(submitted.id, timeout=20)
            assert auto.state == "approved" and auto.decision is not None
            assert auto.decision.decided_by == "ai"
            timed_out = await app.wait(human.id, timeout=2 * SERVER_WAIT_CAP)
            assert timed_out.timed_out

            task = None
            for _ in range(300):
                task = await reviewer.claim("docs")
                if task is not None:
                    break
                await asyncio.sleep(0.05)
            assert task is not None and task.item is not None and task.item.id == human.id
            assert (await reviewer.claim_task(task.id)).id == task.id
            assert (await reviewer.get_task(task.id)).item_id == human.id
            await reviewer.decide(task.id, "rejected", comment="no")
            decided = await app.wait(human.id, timeout=20)
            trail = await app.events(human.id)
            calibration = await app.calibration("docs")
            other = await app.submit("docs", {"label": "contract", "confidence": 0.99})
            cancelled = await app.cancel(other.id, reason="withdrawn")
            item = await app.get(human.id)
            return {
                "decided": decided.state,
                "verified": trail.verified,
                "mode": calibration.mode,
                "cancelled": cancelled.state,
                "json": item.model_dump(mode="json"),
            }

    # A thread of its own: other tests (Playwright's sync API) may hold a loop in this one.
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(asyncio.run, run()).result(timeout=90)
    assert result["decided"] == "rejected" and result["verified"]
    assert result["mode"] == "fixed" and result["cancelled"] == "cancelled"
    with Client(server, keys.admin) as client:
        raw = client._http.get(f"/api/v1/items/{result['json']['id']}").json()
    assert result["json"] == raw
