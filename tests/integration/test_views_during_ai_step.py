"""Opening an item while its AI step runs never costs a second AI call (SQLite and PostgreSQL).

A real HTTP server stands in for the LLM, answers slowly and counts calls; real worker
threads run the AI step while a signed-in reviewer keeps opening the item pages.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.domain.prediction import Prediction
from signoff.domain.states import Role
from signoff.services import audit as audit_service
from signoff.services import intake, processing
from signoff.services import items as item_service
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.services.users import Principal
from signoff.storage import audit, items
from signoff.testing.fake_chat import FakeChatServer
from signoff.workers.runner import WorkerPool
from tests.conftest import FAKE_WORKFLOW, Keys, make_settings
from tests.integration.test_ui_security import sign_in

ITEMS = 4
AI_SECONDS = 1.0  # each LLM answer takes this long: views land while the AI step runs
DEADLINE = 180.0  # generous: a loaded machine is slow, a passing run is not


@pytest.fixture
def fake() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        server.hang(AI_SECONDS, always=True)  # then the default answer: labels[0] at 0.93
        yield server


@pytest.fixture
def slow_ctx(
    db_url: str, fake: FakeChatServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Context]:
    monkeypatch.setenv("SIGNOFF_CREDENTIAL_FAKE_LLM_KEY", "sk-test-key")
    settings = make_settings(
        db_url,
        # A lease that a loaded machine still renews in time, yet short enough that a result
        # thrown away would be predicted again well within the deadline.
        worker={"concurrency": 1, "batch_size": 2, "lease_seconds": 20, "poll_seconds": 0.05},
    )
    context = create_context(settings)
    workflow_service.apply_workflow(
        context,
        {
            "name": "llm",
            "labels": ["invoice", "contract"],
            "ai": {
                "provider": "openai",
                "retries": 0,
                "options": {
                    "model": "test-model",
                    "base_url": fake.base_url,
                    "api_key_env": "SIGNOFF_CREDENTIAL_FAKE_LLM_KEY",
                    "timeout_seconds": 30,
                    "confidence": "logprobs",
                },
            },
            "routing": {"threshold": 0.9},
        },
        "test",
    )
    yield context
    context.close()


def _events(client: TestClient, admin: dict[str, str], item_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/items/{item_id}/events", headers=admin)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_item_pages_opened_during_a_slow_ai_step_cost_no_second_llm_call(
    slow_ctx: Context, fake: FakeChatServer
) -> None:
    keys = Keys(slow_ctx)
    admin = keys.auth(keys.admin)
    ids = [
        intake.submit_item(
            slow_ctx, "llm", intake.NewItem(content={"text": f"Invoice {n}"}), "test"
        ).item_id
        for n in range(ITEMS)
    ]
    pool = WorkerPool(slow_ctx, sender=False)
    with TestClient(create_app(ctx=slow_ctx)) as client:
        sign_in(client, "reviewer@example.com", "reviewer-password-1")
        pool.start()
        try:
            deadline = time.monotonic() + DEADLINE
            while True:
                states = {}
                for item_id in ids:
                    page = client.get(f"/ui/items/{item_id}")
                    assert page.status_code == 200, page.text
                    api = client.get(f"/api/v1/items/{item_id}", headers=admin)
                    assert api.status_code == 200, api.text
                    states[item_id] = api.json()["state"]
                if all(s == "approved" for s in states.values()):
                    break
                assert time.monotonic() < deadline, f"items not decided: {states}"
        finally:
            pool.stop()

        assert len(fake.requests) == ITEMS, f"{len(fake.requests)} LLM calls for {ITEMS} items"
        viewed_while_processing = 0
        for item_id in ids:
            trail = _events(client, admin, item_id)
            assert trail["verified"] is True, trail["problems"]
            types = [e["type"] for e in trail["events"]]
            assert Counter(types)["claimed"] == 1, types
            assert "lease_recovered" not in types, types
            assert types.count("auto_decided") == 1, types
            claimed, decided = types.index("claimed"), types.index("auto_decided")
            viewed_while_processing += types[claimed:decided].count("viewed")
    # The race this guards against really happened: people looked while the AI worked.
    assert viewed_while_processing > 0
    checked, problems = audit_service.verify_all(slow_ctx)
    assert checked > 0 and not problems, problems


def test_concurrent_views_and_a_worker_result_all_chain_on_the_real_head(db_url: str) -> None:
    ctx = create_context(make_settings(db_url, worker={"lease_seconds": 600}))
    try:
        workflow_service.apply_workflow(ctx, FAKE_WORKFLOW, "test")
        content = {"text": "an invoice", "label": "invoice", "confidence": 0.99}
        item_id = intake.submit_item(ctx, "docs", intake.NewItem(content=content), "test").item_id
        [work] = processing.claim_batch(ctx, "w1", 10)
        spec = workflow_service.get_spec(ctx, work.workflow_id, work.version)
        viewer = Principal(None, None, Role.REVIEWER)
        threads, views = 6, 15
        start = threading.Barrier(threads + 1)

        def look() -> None:
            start.wait()
            for _ in range(views):
                item_service.record_view(ctx, viewer, item_id)

        def record() -> None:
            start.wait()
            prediction = Prediction(label="invoice", confidence=0.99, model="test")
            processing.record_results(ctx, "w1", [(work, spec, prediction)])

        with ThreadPoolExecutor(threads + 1) as pool:
            futures = [pool.submit(look) for _ in range(threads)] + [pool.submit(record)]
            for future in futures:
                future.result(timeout=DEADLINE)

        with ctx.sessions() as session:
            events = audit.list_item_events(session, item_id)
            row = items.read_item(session, item_id)
        types = [e.type for e in events]
        assert row.state == "approved"  # the worker's result was not thrown away
        assert types.count("auto_decided") == 1
        assert types.count("viewed") == threads * views  # and no view was lost either
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        checked, problems = audit_service.verify_all(ctx)
        assert checked > len(events) and not problems, problems  # + the system chain
    finally:
        ctx.close()
