"""The Python client against a real server with workers: submit, wait, review."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from signoff.client import ApiError, AsyncClient, Client
from signoff.services.context import Context
from signoff.workers.runner import WorkerPool
from tests.conftest import FAKE_WORKFLOW, Keys
from tests.live_server import serve


@pytest.fixture
def server(app: Any, ctx: Context) -> Iterator[str]:
    pool = WorkerPool(ctx, concurrency=1)
    pool.start()
    with serve(app) as url:
        yield url
    pool.stop()


def test_an_application_submits_and_waits_while_a_reviewer_decides(server: str, keys: Keys) -> None:
    with Client(server, keys.admin) as app_client, Client(server, keys.reviewer) as reviewer:
        app_client.apply_workflow("docs", FAKE_WORKFLOW)
        auto = app_client.submit(
            "docs",
            {"text": "invoice", "label": "invoice", "confidence": 0.99},
            idempotency_key="a-1",
        )
        again = app_client.submit(
            "docs",
            {"text": "invoice", "label": "invoice", "confidence": 0.99},
            idempotency_key="a-1",
        )
        assert again["id"] == auto["id"]
        assert app_client.wait(auto["id"], timeout=20)["decision"]["decided_by"] == "ai"

        human = app_client.submit(
            "docs", {"text": "contract", "label": "contract", "confidence": 0.99}
        )

        def review() -> None:
            for _ in range(100):
                task = reviewer.claim("docs")
                if task is not None:
                    reviewer.decide(task["id"], "rejected", comment="not ours")
                    return
                threading.Event().wait(0.1)

        thread = threading.Thread(target=review)
        thread.start()
        decided = app_client.wait(human["id"], timeout=30, poll=2)
        thread.join()
        assert decided["state"] == "rejected"
        assert decided["decision"]["comment"] == "not ours"
        assert decided["decision"]["override"] is True


def test_errors_arrive_as_api_errors_with_the_servers_code(server: str, keys: Keys) -> None:
    with Client(server, keys.reviewer) as reviewer, pytest.raises(ApiError) as raised:
        reviewer.submit("docs", {"text": "x"})
    assert raised.value.status == 403
    assert raised.value.code == "forbidden"


def test_the_async_client_waits_for_a_decision(server: str, keys: Keys) -> None:
    Client(server, keys.admin).apply_workflow("docs", FAKE_WORKFLOW)

    async def run() -> dict[str, Any]:
        async with AsyncClient(server, keys.admin) as client:
            item = await client.submit("docs", {"label": "receipt", "confidence": 0.95})
            return await client.wait(item["id"], timeout=20)

    # A thread of its own: other tests (Playwright's sync API) may hold a loop in this one.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, run()).result(timeout=60)["state"] == "approved"
