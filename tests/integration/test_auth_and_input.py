"""Who may do what, and what bad input gets back; no bad request loses accepted items."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.domain.states import Role
from signoff.services import processing, users
from signoff.services.context import Context, create_context
from tests.conftest import Keys, make_settings

ITEMS = "/api/v1/workflows/docs/items"


@pytest.fixture
def accepted(client: TestClient, keys: Keys, docs_workflow: str) -> list[dict[str, Any]]:
    """Three items already accepted before any bad request arrives."""
    bodies = [{"content": {"text": f"doc {i}"}, "external_id": f"e{i}"} for i in range(3)]
    out = []
    for body in bodies:
        response = client.post(ITEMS, json=body, headers=keys.auth(keys.admin))
        assert response.status_code == 201, response.text
        out.append(response.json())
    return out


def _all_items(client: TestClient, keys: Keys) -> list[tuple[int, str | None, Any]]:
    response = client.get("/api/v1/items", params={"limit": 500}, headers=keys.auth(keys.admin))
    assert response.status_code == 200, response.text
    return sorted((i["id"], i["external_id"], i["content"]) for i in response.json()["items"])


def _snapshot(items: list[dict[str, Any]]) -> list[tuple[int, str | None, Any]]:
    return sorted((i["id"], i["external_id"], i["content"]) for i in items)


# --- authentication -------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer sk_000000000000_wrongsecret"},
    ],
    ids=["none", "empty-bearer", "basic", "garbage", "unknown-prefix"],
)
def test_request_without_a_valid_key_answers_401_json(
    client: TestClient, accepted: list[dict[str, Any]], keys: Keys, headers: dict[str, str]
) -> None:
    response = client.get("/api/v1/items", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"
    submit = client.post(ITEMS, json={"content": {"text": "x"}}, headers=headers)
    assert submit.status_code == 401
    assert _all_items(client, keys) == _snapshot(accepted)


def test_key_with_a_known_prefix_but_wrong_secret_answers_401(
    client: TestClient, keys: Keys
) -> None:
    prefix = keys.admin.rsplit("_", 1)[0]
    response = client.get("/api/v1/items", headers=keys.auth(f"{prefix}_tampered"))
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_a_key_already_verified_still_refuses_a_wrong_secret_and_a_deactivated_user(
    client: TestClient, ctx: Context, keys: Keys
) -> None:
    """The process remembers a secret that verified; nothing else passes on the strength of it."""
    user_id = users.add_user(ctx, "temp-reviewer@example.com", Role.REVIEWER)
    _, token = users.create_key(ctx, "temp", "temp-reviewer@example.com")
    for _ in range(2):
        assert client.get("/api/v1/items", headers=keys.auth(token)).status_code == 200
    prefix, secret = token.rsplit("_", 1)
    for wrong in (f"{prefix}_{secret[:-1]}", f"{prefix}_{secret}x", f"{prefix}_"):
        response = client.get("/api/v1/items", headers=keys.auth(wrong))
        assert response.status_code == 401, wrong
    users.set_role(ctx, user_id, Role.REVIEWER, False, "test", acting_user_id=None)
    response = client.get("/api/v1/items", headers=keys.auth(token))
    assert response.status_code == 401
    assert response.json()["detail"] == "this user is deactivated"


def test_revoked_key_answers_401_while_other_keys_keep_working(
    client: TestClient, ctx: Context, keys: Keys
) -> None:
    key_id, token = users.create_key(ctx, "temp", "admin@example.com")
    assert client.get("/api/v1/items", headers=keys.auth(token)).status_code == 200
    users.revoke_key(ctx, key_id, "test")
    response = client.get("/api/v1/items", headers=keys.auth(token))
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "detail": "invalid or revoked API key"}
    assert client.get("/api/v1/items", headers=keys.auth(keys.admin)).status_code == 200


def test_reviewer_cannot_submit_items_or_put_workflows(
    client: TestClient, keys: Keys, accepted: list[dict[str, Any]]
) -> None:
    submit = client.post(ITEMS, json={"content": {"text": "x"}}, headers=keys.auth(keys.reviewer))
    assert submit.status_code == 403
    assert submit.json()["error"] == "forbidden"
    batch = client.post(
        f"{ITEMS}/batch",
        json={"items": [{"content": {"text": "x"}}]},
        headers=keys.auth(keys.reviewer),
    )
    assert batch.status_code == 403
    put = client.put(
        "/api/v1/workflows/other", content="labels: [a, b]", headers=keys.auth(keys.reviewer)
    )
    assert put.status_code == 403
    assert put.json()["error"] == "forbidden"
    cancel = client.post(
        f"/api/v1/items/{accepted[0]['id']}/cancel", headers=keys.auth(keys.reviewer)
    )
    assert cancel.status_code == 403
    assert _all_items(client, keys) == _snapshot(accepted)
    assert client.get("/api/v1/workflows/other", headers=keys.auth(keys.admin)).status_code == 404


def test_auditor_can_read_items_and_trails_but_not_claim_or_decide(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    created = client.post(
        ITEMS,
        json={"content": {"label": "invoice", "confidence": 0.5}},
        headers=keys.auth(keys.admin),
    ).json()
    processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 500)
    auditor = keys.auth(keys.auditor)
    assert client.get(f"/api/v1/items/{created['id']}", headers=auditor).status_code == 200
    assert client.get("/api/v1/items", headers=auditor).json()["items"][0]["id"] == created["id"]
    assert client.get(f"/api/v1/items/{created['id']}/events", headers=auditor).status_code == 200
    assert client.post("/api/v1/reviews/claim", headers=auditor).status_code == 403
    task = client.post("/api/v1/reviews/claim", headers=keys.auth(keys.reviewer)).json()
    decided = client.post(
        f"/api/v1/tasks/{task['id']}/decision", json={"outcome": "approved"}, headers=auditor
    )
    assert decided.status_code == 403
    assert decided.json()["error"] == "forbidden"
    assert client.get(f"/api/v1/items/{created['id']}", headers=auditor).json()["state"] == (
        "in_review"
    )
    submit = client.post(ITEMS, json={"content": {"text": "x"}}, headers=auditor)
    assert submit.status_code == 403


# --- malformed input ------------------------------------------------------------------


BAD_SUBMISSIONS: list[tuple[str, dict[str, Any], int, dict[str, Any]]] = [
    (
        "malformed-json",
        {"content": b'{"content": {"text": "x"', "headers": {"content-type": "application/json"}},
        422,
        {"error": "invalid_json"},
    ),
    (
        "empty-body",
        {"content": b"", "headers": {"content-type": "application/json"}},
        422,
        {"error": "validation_error"},
    ),
    (
        "content-not-object",
        {"json": {"content": "just text"}},
        422,
        {"error": "validation_error", "field": "content"},
    ),
    (
        "content-missing",
        {"json": {"external_id": "x"}},
        422,
        {"error": "validation_error", "field": "content"},
    ),
    (
        "external-id-number",
        {"json": {"content": {}, "external_id": 5}},
        422,
        {"error": "validation_error", "field": "external_id"},
    ),
    (
        "metadata-list",
        {"json": {"content": {}, "metadata": [1]}},
        422,
        {"error": "validation_error", "field": "metadata"},
    ),
    (
        "unknown-field",
        {"json": {"content": {}, "priority": "high"}},
        422,
        {"error": "validation_error", "field": "priority"},
    ),
    ("body-is-list", {"json": [{"content": {}}]}, 422, {"error": "validation_error"}),
    (
        "invalid-utf8",
        {
            "content": b'{"content": {"text": "caf\xe9"}}',
            "headers": {"content-type": "application/json"},
        },
        400,
        {"error": "invalid_utf8"},
    ),
    (
        "invalid-utf8-no-type",
        {"content": b'{"content": {"text": "\xff\xfe"}}'},
        400,
        {"error": "invalid_utf8"},
    ),
]


@pytest.mark.parametrize(
    ("case", "request_kwargs", "status", "expected"),
    BAD_SUBMISSIONS,
    ids=[c[0] for c in BAD_SUBMISSIONS],
)
def test_bad_submission_is_refused_with_a_json_error_and_loses_nothing(
    client: TestClient,
    keys: Keys,
    accepted: list[dict[str, Any]],
    case: str,
    request_kwargs: dict[str, Any],
    status: int,
    expected: dict[str, Any],
) -> None:
    kwargs = dict(request_kwargs)
    kwargs["headers"] = {**kwargs.get("headers", {}), **keys.auth(keys.admin)}
    response = client.post(ITEMS, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    for key, value in expected.items():
        assert body[key] == value, body
    assert body["detail"]
    assert "Traceback" not in response.text
    assert _all_items(client, keys) == _snapshot(accepted)


def test_bad_batch_is_refused_whole_naming_the_bad_entry(
    client: TestClient, keys: Keys, accepted: list[dict[str, Any]]
) -> None:
    batch = [{"content": {"text": "ok"}}, {"content": "not an object"}]
    response = client.post(f"{ITEMS}/batch", json={"items": batch}, headers=keys.auth(keys.admin))
    assert response.status_code == 422
    assert response.json()["field"] == "items.1.content"
    empty = client.post(f"{ITEMS}/batch", json={"items": []}, headers=keys.auth(keys.admin))
    assert empty.status_code == 422
    assert empty.json()["field"] == "items"
    assert _all_items(client, keys) == _snapshot(accepted)


def test_batch_with_a_reused_idempotency_key_is_refused_whole(
    client: TestClient, keys: Keys, accepted: list[dict[str, Any]]
) -> None:
    first = client.post(
        ITEMS,
        json={"content": {"text": "a"}, "idempotency_key": "k"},
        headers=keys.auth(keys.admin),
    ).json()
    before = _all_items(client, keys)
    batch = [{"content": {"text": "new"}}, {"content": {"text": "b"}, "idempotency_key": "k"}]
    response = client.post(f"{ITEMS}/batch", json={"items": batch}, headers=keys.auth(keys.admin))
    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"
    assert response.json()["item_id"] == first["id"]
    assert _all_items(client, keys) == before


def test_submission_to_an_unknown_workflow_answers_404_naming_it(
    client: TestClient, keys: Keys, accepted: list[dict[str, Any]]
) -> None:
    response = client.post(
        "/api/v1/workflows/nope/items",
        json={"content": {"text": "x"}},
        headers=keys.auth(keys.admin),
    )
    assert response.status_code == 404
    assert response.json()["error"] == "workflow_not_found"
    assert "nope" in response.json()["detail"]
    batch = client.post(
        "/api/v1/workflows/nope/items/batch",
        json={"items": [{"content": {}}]},
        headers=keys.auth(keys.admin),
    )
    assert batch.status_code == 404
    assert "nope" in batch.json()["detail"]
    listing = client.get(
        "/api/v1/items", params={"workflow": "nope"}, headers=keys.auth(keys.admin)
    )
    assert listing.status_code == 404
    assert _all_items(client, keys) == _snapshot(accepted)


def test_unknown_route_and_wrong_method_answer_json(client: TestClient, keys: Keys) -> None:
    missing = client.get("/api/v1/nothing-here", headers=keys.auth(keys.admin))
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong = client.delete("/api/v1/items", headers=keys.auth(keys.admin))
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"


def test_path_parameter_of_the_wrong_type_answers_422_naming_it(
    client: TestClient, keys: Keys
) -> None:
    response = client.get("/api/v1/items/abc", headers=keys.auth(keys.admin))
    assert response.status_code == 422
    assert response.json()["field"] == "path.item_id"


# --- size limit ---------------------------------------------------------------------------


@pytest.fixture
def small_client(db_url: str, client: TestClient) -> Iterator[TestClient]:
    """A second app on the same database whose body limit is 2048 bytes."""
    small_ctx = create_context(make_settings(db_url, limits={"max_body_bytes": 2048}))
    with TestClient(create_app(ctx=small_ctx)) as test_client:
        yield test_client
    small_ctx.close()


def test_body_over_the_limit_answers_413_and_loses_nothing(
    small_client: TestClient, client: TestClient, keys: Keys, accepted: list[dict[str, Any]]
) -> None:
    fits = small_client.post(
        ITEMS, json={"content": {"text": "x" * 1500}}, headers=keys.auth(keys.admin)
    )
    assert fits.status_code == 201, fits.text
    before = _all_items(client, keys)
    response = small_client.post(
        ITEMS, json={"content": {"text": "x" * 3000}}, headers=keys.auth(keys.admin)
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert "2048" in response.json()["detail"]
    assert _all_items(client, keys) == before


def test_streamed_body_over_the_limit_without_content_length_answers_413(
    small_client: TestClient, client: TestClient, keys: Keys, accepted: list[dict[str, Any]]
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"content": {"text": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}}'

    response = small_client.post(
        ITEMS,
        content=chunks(),
        headers={**keys.auth(keys.admin), "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert _all_items(client, keys) == _snapshot(accepted)


def test_workflow_body_over_the_limit_answers_413(small_client: TestClient, keys: Keys) -> None:
    text = "name: big\nlabels: [a, b]\ndescription: " + "z" * 4000 + "\n"
    response = small_client.put(
        "/api/v1/workflows/big", content=text, headers=keys.auth(keys.admin)
    )
    assert response.status_code == 413
    assert (
        small_client.get("/api/v1/workflows/big", headers=keys.auth(keys.admin)).status_code == 404
    )


# --- workflow definitions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("labels: [a, b]\nrouting: {threshold: 1.5}\n", "routing.threshold"),
        ("routing: {threshold: 0.5}\n", "labels"),
        ("labels: [a, b]\nroutnig: {threshold: 0.5}\n", "routnig"),
        ("labels: [a, b]\nentities: [{type: amount, patterns: ['(']}]\n", "entities.0.patterns"),
        ("name: other\nlabels: [a, b]\n", "name"),
    ],
    ids=["threshold", "labels-missing", "unknown-key", "bad-regex", "name-mismatch"],
)
def test_put_of_a_malformed_workflow_answers_422_naming_the_field(
    client: TestClient, keys: Keys, docs_workflow: str, text: str, field: str
) -> None:
    response = client.put("/api/v1/workflows/docs", content=text, headers=keys.auth(keys.admin))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_workflow"
    assert field in [p["field"] for p in body["problems"]]
    assert field in body["detail"]
    current = client.get("/api/v1/workflows/docs", headers=keys.auth(keys.admin)).json()
    assert current["version"] == 1


def test_put_of_text_that_is_not_yaml_answers_422(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    response = client.put(
        "/api/v1/workflows/docs", content="labels: [a, b\nname: {", headers=keys.auth(keys.admin)
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_workflow"
    not_mapping = client.put(
        "/api/v1/workflows/docs", content="- a\n- b\n", headers=keys.auth(keys.admin)
    )
    assert not_mapping.status_code == 422
    assert "mapping" in not_mapping.json()["detail"]


def test_put_of_always_review_labels_outside_labels_answers_422_naming_it(
    client: TestClient, keys: Keys
) -> None:
    text = "labels: [a, b]\nrouting: {threshold: 0.5, always_review_labels: [c]}\n"
    response = client.put("/api/v1/workflows/fresh", content=text, headers=keys.auth(keys.admin))
    assert response.status_code == 422
    assert "routing.always_review_labels" in response.json()["detail"]
    assert client.get("/api/v1/workflows/fresh", headers=keys.auth(keys.admin)).status_code == 404
