"""The items API on SQLite and PostgreSQL: submit, idempotency, batches, reads, cancel, wait."""

from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.services import processing
from signoff.services.context import Context
from signoff.storage import tables as t
from signoff.storage import tasks
from tests.conftest import Keys

CONFIDENT = {"label": "invoice", "confidence": 0.95}
UNSURE = {"label": "invoice", "confidence": 0.5}


def _submit(client: TestClient, keys: Keys, content: dict[str, Any], **extra: Any) -> Any:
    headers = {**keys.auth(keys.admin), **extra.pop("headers", {})}
    return client.post(
        "/api/v1/workflows/docs/items", json={"content": content, **extra}, headers=headers
    )


def _process(ctx: Context) -> int:
    return processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 500)


def _count_items(ctx: Context) -> int:
    with ctx.sessions() as session:
        return int(session.execute(sa.select(sa.func.count()).select_from(t.items)).scalar_one())


def test_submitting_an_item_answers_201_with_its_id_and_state_received(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    response = _submit(
        client, keys, {"text": "Invoice 42"}, external_id="ext-1", metadata={"source": "mail"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body["id"], int)
    assert body["state"] == "received"
    assert body["workflow"] == "docs"
    assert body["workflow_version"] == 1
    assert body["external_id"] == "ext-1"
    assert body["content"] == {"text": "Invoice 42"}
    assert body["metadata"] == {"source": "mail"}
    assert (body["prediction"], body["route"], body["decision"]) == (None, None, None)
    assert _count_items(ctx) == 1


def test_same_idempotency_key_and_body_returns_200_with_the_first_item(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    first = _submit(client, keys, {"text": "a"}, headers={"Idempotency-Key": "k-1"})
    again = _submit(client, keys, {"text": "a"}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert _count_items(ctx) == 1


def test_same_idempotency_key_with_a_different_body_is_refused_naming_the_key(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    first = _submit(client, keys, {"text": "a"}, headers={"Idempotency-Key": "k-2"})
    other = _submit(client, keys, {"text": "b"}, headers={"Idempotency-Key": "k-2"})
    assert first.status_code == 201
    assert other.status_code == 422, other.text
    body = other.json()
    assert body["error"] == "idempotency_key_reused"
    assert "k-2" in body["detail"]
    assert body["item_id"] == first.json()["id"]
    assert _count_items(ctx) == 1


def test_idempotency_key_in_the_body_works_like_the_header(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    first = _submit(client, keys, {"text": "a"}, idempotency_key="body-key")
    again = _submit(client, keys, {"text": "a"}, idempotency_key="body-key")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]


def test_batch_of_1000_is_accepted_and_a_batch_of_1001_is_refused_naming_items(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    batch = [{"content": {"text": f"doc {i}"}} for i in range(1000)]
    accepted = client.post(
        "/api/v1/workflows/docs/items/batch", json={"items": batch}, headers=keys.auth(keys.admin)
    )
    assert accepted.status_code == 201, accepted.text
    results = accepted.json()["items"]
    assert len(results) == 1000
    assert len({r["id"] for r in results}) == 1000
    assert all(r["created"] and r["state"] == "received" for r in results)
    assert [r["id"] for r in results] == sorted(r["id"] for r in results)

    too_many = [*batch, {"content": {"text": "one more"}}]
    refused = client.post(
        "/api/v1/workflows/docs/items/batch",
        json={"items": too_many},
        headers=keys.auth(keys.admin),
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "items"
    assert "1000" in refused.json()["detail"]
    assert _count_items(ctx) == 1000


def test_processed_item_shows_prediction_route_and_ai_decision(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    item_id = _submit(client, keys, CONFIDENT).json()["id"]
    assert _process(client.app.state.ctx) == 1
    body = client.get(f"/api/v1/items/{item_id}", headers=keys.auth(keys.auditor)).json()
    assert body["state"] == "approved"
    assert body["prediction"]["label"] == "invoice"
    assert body["prediction"]["confidence"] == 0.95
    assert body["prediction"]["model"] == "fake"
    assert body["prediction"]["error"] is None
    assert body["route"] == {
        "route": "auto",
        "reasons": ["confidence 0.95 >= 0.85"],
        "threshold": 0.85,
    }
    decision = body["decision"]
    assert decision["decided_by"] == "ai"
    assert decision["outcome"] == "approved"
    assert decision["label"] == "invoice"
    assert decision["override"] is False
    assert decision["decided_at"]


def test_unsure_item_is_routed_to_review_with_its_reason_and_no_decision(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    item_id = _submit(client, keys, UNSURE).json()["id"]
    _process(ctx)
    body = client.get(f"/api/v1/items/{item_id}", headers=keys.auth(keys.admin)).json()
    assert body["state"] == "in_review"
    assert body["route"]["route"] == "human"
    assert body["route"]["reasons"] == ["confidence 0.50 < 0.85"]
    assert body["decision"] is None
    with ctx.sessions() as session:
        task_rows = tasks.list_tasks_for_item(session, item_id)
    assert [r.status for r in task_rows] == ["open"]


def test_get_of_a_missing_item_answers_404_json(client: TestClient, keys: Keys) -> None:
    response = client.get("/api/v1/items/999999", headers=keys.auth(keys.admin))
    assert response.status_code == 404
    assert response.json()["error"] == "item_not_found"


def test_cursor_pagination_returns_each_item_exactly_once(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    batch = [{"content": {"text": f"doc {i}"}} for i in range(23)]
    created = client.post(
        "/api/v1/workflows/docs/items/batch", json={"items": batch}, headers=keys.auth(keys.admin)
    ).json()["items"]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 5, "workflow": "docs"}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get("/api/v1/items", params=params, headers=keys.auth(keys.auditor))
        assert page.status_code == 200, page.text
        pages += 1
        seen.extend(i["id"] for i in page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert pages == 5
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == {r["id"] for r in created}
    assert seen == sorted(seen, reverse=True)


def test_list_filters_by_state(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    auto_id = _submit(client, keys, CONFIDENT).json()["id"]
    review_id = _submit(client, keys, UNSURE).json()["id"]
    _process(ctx)
    waiting = client.get(
        "/api/v1/items", params={"state": "in_review"}, headers=keys.auth(keys.admin)
    ).json()["items"]
    approved = client.get(
        "/api/v1/items", params={"state": "approved"}, headers=keys.auth(keys.admin)
    ).json()["items"]
    assert [i["id"] for i in waiting] == [review_id]
    assert [i["id"] for i in approved] == [auto_id]
    bad = client.get("/api/v1/items", params={"state": "done"}, headers=keys.auth(keys.admin))
    assert bad.status_code == 422
    assert bad.json()["field"] == "state"


def test_cancelling_an_open_item_cancels_it_and_its_review_task(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    item_id = _submit(client, keys, UNSURE).json()["id"]
    _process(ctx)
    response = client.post(
        f"/api/v1/items/{item_id}/cancel",
        json={"reason": "withdrawn"},
        headers=keys.auth(keys.admin),
    )
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "cancelled"
    with ctx.sessions() as session:
        task_rows = tasks.list_tasks_for_item(session, item_id)
    assert [r.status for r in task_rows] == ["cancelled"]
    events = client.get(f"/api/v1/items/{item_id}/events", headers=keys.auth(keys.admin)).json()
    cancelled = [e for e in events["events"] if e["type"] == "cancelled"]
    assert len(cancelled) == 1
    assert cancelled[0]["data"]["reason"] == "withdrawn"
    assert cancelled[0]["actor"] == "user:admin@example.com"
    assert events["verified"] is True
    assert client.post("/api/v1/reviews/claim", headers=keys.auth(keys.reviewer)).status_code == 204


def test_cancelling_a_received_item_needs_no_body(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    item_id = _submit(client, keys, CONFIDENT).json()["id"]
    response = client.post(f"/api/v1/items/{item_id}/cancel", headers=keys.auth(keys.admin))
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "cancelled"
    assert _process(ctx) == 0


def test_cancelling_a_decided_item_answers_409_and_keeps_the_decision(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    item_id = _submit(client, keys, CONFIDENT).json()["id"]
    _process(ctx)
    response = client.post(f"/api/v1/items/{item_id}/cancel", headers=keys.auth(keys.admin))
    assert response.status_code == 409, response.text
    assert response.json()["error"] == "invalid_transition"
    body = client.get(f"/api/v1/items/{item_id}", headers=keys.auth(keys.admin)).json()
    assert body["state"] == "approved"
    assert body["decision"]["decided_by"] == "ai"


def test_wait_returns_as_soon_as_another_thread_decides_the_item(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    item_id = _submit(client, keys, CONFIDENT).json()["id"]
    errors: list[BaseException] = []

    def decide_later() -> None:
        try:
            time.sleep(0.3)
            _process(ctx)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    worker = threading.Thread(target=decide_later)
    started = time.monotonic()
    worker.start()
    response = client.get(
        f"/api/v1/items/{item_id}/wait", params={"timeout": 30}, headers=keys.auth(keys.admin)
    )
    elapsed = time.monotonic() - started
    worker.join(10)
    assert errors == []
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["timed_out"] is False
    assert body["state"] == "approved"
    assert body["decision"]["decided_by"] == "ai"
    assert elapsed < 3.0, elapsed


def test_wait_returns_timed_out_after_the_timeout_when_nothing_happens(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    item_id = _submit(client, keys, CONFIDENT).json()["id"]
    started = time.monotonic()
    response = client.get(
        f"/api/v1/items/{item_id}/wait", params={"timeout": 0.5}, headers=keys.auth(keys.admin)
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["timed_out"] is True
    assert response.json()["state"] == "received"
    assert 0.5 <= elapsed < 3.0, elapsed


def test_wait_on_an_already_decided_item_answers_at_once(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    item_id = _submit(client, keys, CONFIDENT).json()["id"]
    _process(ctx)
    started = time.monotonic()
    response = client.get(
        f"/api/v1/items/{item_id}/wait", params={"timeout": 30}, headers=keys.auth(keys.admin)
    )
    assert time.monotonic() - started < 2.0
    assert response.json()["timed_out"] is False
    assert response.json()["state"] == "approved"


def test_events_list_the_auto_path_in_order_with_a_verified_chain(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    item_id = _submit(client, keys, CONFIDENT).json()["id"]
    _process(ctx)
    body = client.get(f"/api/v1/items/{item_id}/events", headers=keys.auth(keys.auditor)).json()
    assert body["verified"] is True
    assert body["problems"] == []
    assert [e["type"] for e in body["events"]] == ["received", "claimed", "auto_decided"]
    assert [e["seq"] for e in body["events"]] == [1, 2, 3]
    assert [e["actor"] for e in body["events"]] == [
        "user:admin@example.com",
        "worker:w1",
        "ai",
    ]
    claimed, decided = body["events"][1], body["events"][2]
    assert claimed["data"]["from"] == "received" and claimed["data"]["to"] == "processing"
    assert decided["data"]["to"] == "approved" and decided["data"]["outcome"] == "approved"
    assert body["events"][0]["prev_hash"] == ""
    for before, after in zip(body["events"], body["events"][1:], strict=False):
        assert after["prev_hash"] == before["hash"]


def test_events_list_the_review_path_through_to_the_reviewer_decision(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    item_id = _submit(client, keys, UNSURE).json()["id"]
    _process(ctx)
    task = client.post("/api/v1/reviews/claim", headers=keys.auth(keys.reviewer)).json()
    decided = client.post(
        f"/api/v1/tasks/{task['id']}/decision",
        json={"outcome": "approved"},
        headers=keys.auth(keys.reviewer),
    )
    assert decided.status_code == 200, decided.text
    body = client.get(f"/api/v1/items/{item_id}/events", headers=keys.auth(keys.auditor)).json()
    assert body["verified"] is True
    assert [e["type"] for e in body["events"]] == [
        "received",
        "claimed",
        "routed_to_review",
        "assigned",
        "decided",
    ]
    assert body["events"][-1]["actor"] == "user:reviewer@example.com"
    assert [tk["status"] for tk in body["tasks"]] == ["decided"]
