"""Opening an item while its AI step runs never costs a second AI call (SQLite and PostgreSQL).

A real HTTP server stands in for the LLM, answers slowly and counts calls; real worker
threads run the AI step while a signed-in reviewer keeps opening the item pages.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.services import audit as audit_service
from signoff.services import intake
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.testing.fake_llm import FakeChatServer
from signoff.workers.runner import WorkerPool
from tests.conftest import Keys, make_settings
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
    monkeypatch.setenv("FAKE_LLM_KEY", "sk-test-key")
    settings = make_settings(
        db_url,
        # A short lease: a result thrown away would be predicted again within seconds.
        worker={"concurrency": 1, "batch_size": 2, "lease_seconds": 3, "poll_seconds": 0.05},
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
                    "api_key_env": "FAKE_LLM_KEY",
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
