"""The OpenAPI document is the contract: every route declares its answers, errors share one shape."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from signoff.api import schemas
from tests.conftest import Keys

ITEMS = "/api/v1/workflows/docs/items"
TOO_BIG = str(2**63)


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if path.startswith("/api/")
    ]


def _assert_error_body(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    schemas.ErrorPublic.model_validate(body)
    assert isinstance(body["error"], str) and body["detail"]
    return body  # type: ignore[no-any-return]


def test_every_api_operation_declares_a_response_schema_and_its_error_statuses(
    spec: dict[str, Any],
) -> None:
    operations = _operations(spec)
    assert len(operations) >= 16
    error_ref = "#/components/schemas/ErrorPublic"
    for method, path, op in operations:
        responses = op["responses"]
        success = [s for s in responses if s.startswith("2") and s != "204"]
        assert success, f"{method} {path}"
        for status in success:
            content = responses[status]["content"]
            # Streamed exports declare their lines' schema (JSON lines) instead.
            schema = (content.get("application/json") or content["application/x-ndjson"])["schema"]
            assert schema.get("$ref", "").startswith("#/components/schemas/"), (method, path)
        for status in ("401", "403", "422", "503"):
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": error_ref}, (method, path, status)
        assert "retry-after" in {h.lower() for h in responses["503"]["headers"]}
        if "{" in path and method != "put":  # PUT creates what is missing
            assert "404" in responses, (method, path)
        if "requestBody" in op and method == "post":
            assert {"400", "413", "415"} <= set(responses), (method, path)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_health_and_readiness_declare_their_bodies_and_readiness_its_503(
    spec: dict[str, Any], client: TestClient
) -> None:
    health = spec["paths"]["/healthz"]["get"]["responses"]
    assert health["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HealthPublic"
    }
    ready = spec["paths"]["/readyz"]["get"]["responses"]
    for status in ("200", "503"):
        assert ready[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ReadyPublic"
        }, status
    assert "retry-after" in {h.lower() for h in ready["503"]["headers"]}
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    assert schemas.ReadyPublic.model_validate(answer.json()).status == "ready"


def test_validation_unknown_route_and_wrong_method_errors_share_the_error_shape(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    admin = keys.auth(keys.admin)
    body = _assert_error_body(client.get("/api/v1/items?limit=0", headers=admin), 422)
    assert body["field"] == "query.limit"
    _assert_error_body(client.get("/api/v1/no-such-route", headers=admin), 404)
    _assert_error_body(client.get("/api/v1/items/999", headers=admin), 404)
    _assert_error_body(client.get("/api/v1/items"), 401)
    _assert_error_body(client.post("/api/v1/reviews/claim", headers=keys.auth(keys.auditor)), 403)


def test_wrong_method_answers_405_with_every_method_the_path_allows(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    admin = keys.auth(keys.admin)
    workflow = client.delete("/api/v1/workflows/docs", headers=admin)
    _assert_error_body(workflow, 405)
    assert workflow.headers["allow"] == "GET, PUT"
    items = client.patch("/api/v1/items", headers=admin)
    _assert_error_body(items, 405)
    assert items.headers["allow"] == "GET"
    decision = client.get("/api/v1/tasks/1/decision", headers=admin)
    assert decision.headers["allow"] == "POST"


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/items/{TOO_BIG}",
        "/api/v1/items/-1",
        "/api/v1/items/0",
        f"/api/v1/items/{TOO_BIG}/events",
        f"/api/v1/items/{TOO_BIG}/wait?timeout=0",
        f"/api/v1/tasks/{TOO_BIG}",
    ],
)
def test_ids_outside_64_bit_range_answer_422_naming_the_id(
    client: TestClient, keys: Keys, path: str
) -> None:
    body = _assert_error_body(client.get(path, headers=keys.auth(keys.admin)), 422)
    assert body["field"] in ("path.item_id", "path.task_id")


def test_ids_outside_64_bit_range_in_posts_answer_422(client: TestClient, keys: Keys) -> None:
    admin = keys.auth(keys.admin)
    cancel = client.post(f"/api/v1/items/{TOO_BIG}/cancel", headers=admin)
    assert _assert_error_body(cancel, 422)["field"] == "path.item_id"
    decide = client.post(
        f"/api/v1/tasks/{TOO_BIG}/decision", json={"outcome": "approved"}, headers=admin
    )
    assert _assert_error_body(decide, 422)["field"] == "path.task_id"


@pytest.mark.parametrize("cursor", [TOO_BIG, "-5", "0", "abc", "1.5", ""])
def test_malformed_cursor_answers_422_naming_cursor(
    client: TestClient, keys: Keys, cursor: str
) -> None:
    response = client.get(f"/api/v1/items?cursor={cursor}", headers=keys.auth(keys.admin))
    body = _assert_error_body(response, 422)
    assert body["field"] == "query.cursor"
    assert "cursor" in body["detail"]


def test_largest_id_is_a_plain_not_found(client: TestClient, keys: Keys) -> None:
    response = client.get(f"/api/v1/items/{2**63 - 1}", headers=keys.auth(keys.admin))
    assert _assert_error_body(response, 404)["error"] == "item_not_found"
    page = client.get(f"/api/v1/items?cursor={2**63 - 1}", headers=keys.auth(keys.admin))
    assert page.status_code == 200
    assert page.json() == {"items": [], "next_cursor": None}


def test_form_encoded_body_gets_a_hint_to_send_json_and_nothing_is_stored(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    # What `curl -d '{"content": {...}}'` sends: the form content type.
    response = client.post(
        ITEMS,
        content=b'{"content": {"text": "x"}}',
        headers={**keys.auth(keys.admin), "content-type": "application/x-www-form-urlencoded"},
    )
    body = _assert_error_body(response, 415)
    assert body["error"] == "unsupported_media_type"
    assert "Content-Type: application/json" in body["detail"]
    listed = client.get("/api/v1/items", headers=keys.auth(keys.admin)).json()
    assert listed["items"] == []
    plain = client.post(
        f"{ITEMS}/batch",
        content=b'{"items": []}',
        headers={**keys.auth(keys.admin), "content-type": "text/plain"},
    )
    assert _assert_error_body(plain, 415)["field"] == "(body)"


def test_json_without_content_type_gets_the_hint_and_yaml_workflows_stay_accepted(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    admin = keys.auth(keys.admin)
    bare = client.post(ITEMS, content=b'{"content": {"text": "x"}}', headers=admin)
    body = _assert_error_body(bare, 415)
    assert "Content-Type: application/json" in body["detail"]
    assert "no Content-Type" in body["detail"]
    yaml_put = client.put(
        "/api/v1/workflows/other",
        content="labels: [a, b]\n",
        headers={**admin, "content-type": "application/x-www-form-urlencoded"},
    )
    assert yaml_put.status_code == 201, yaml_put.text


def test_responses_match_their_declared_models(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    admin = keys.auth(keys.admin)
    item = client.post(ITEMS, json={"content": {"text": "x"}}, headers=admin).json()
    schemas.ItemPublic.model_validate(item, strict=True)
    page = client.get("/api/v1/items", headers=admin).json()
    assert schemas.ItemList.model_validate(page).items[0].id == item["id"]
    trail = client.get(f"/api/v1/items/{item['id']}/events", headers=admin).json()
    assert schemas.ItemEventList.model_validate(trail).events[0].type == "received"
    calibration = client.get("/api/v1/workflows/docs/calibration", headers=admin).json()
    assert schemas.CalibrationPublic.model_validate(calibration).threshold == 0.85
    assert client.post("/api/v1/reviews/claim", headers=keys.auth(keys.reviewer)).status_code == 204


def test_empty_idempotency_key_is_refused(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    admin = keys.auth(keys.admin)
    batch = [
        {"content": {"n": 1}, "idempotency_key": ""},
        {"content": {"n": 2}, "idempotency_key": ""},
    ]
    response = client.post(f"{ITEMS}/batch", json={"items": batch}, headers=admin)
    assert _assert_error_body(response, 422)["field"] == "items.0.idempotency_key"
    header = client.post(ITEMS, json={"content": {}}, headers={**admin, "Idempotency-Key": ""})
    assert _assert_error_body(header, 422)["field"] == "header.idempotency-key"


def test_workflow_json_with_escaped_characters_is_read_as_json_and_lone_surrogates_refused(
    client: TestClient, keys: Keys
) -> None:
    admin = keys.auth(keys.admin)
    json_body = b'{"labels": ["\\ud83d\\ude00 happy", "sad"]}'
    put = client.put(
        "/api/v1/workflows/moods",
        content=json_body,
        headers={**admin, "content-type": "application/json"},
    )
    assert put.status_code == 201, put.text
    assert put.json()["spec"]["labels"] == ["\U0001f600 happy", "sad"]
    lone = client.put(
        "/api/v1/workflows/broken",
        content=b'labels: ["\\ud83d", "b"]\n',
        headers={**admin, "content-type": "application/yaml"},
    )
    assert _assert_error_body(lone, 422)["error"] == "invalid_workflow"
    assert "surrogate" in lone.json()["detail"]
    assert client.get("/api/v1/workflows/broken", headers=admin).status_code == 404
    assert client.get("/api/v1/workflows", headers=admin).status_code == 200
