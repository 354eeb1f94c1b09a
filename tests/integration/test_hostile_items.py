"""Hostile item content through the REST API on SQLite and PostgreSQL: what could be
stored but not read back (too deep, too large, lone surrogates, NaN) is refused with a
4xx naming the limit, nothing is stored, and reading items keeps working."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.services import processing
from signoff.services.context import Context, create_context
from tests.conftest import Keys, make_settings

ITEMS = "/api/v1/workflows/docs/items"
JSON = {"content-type": "application/json"}


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


@pytest.fixture
def accepted(client: TestClient, keys: Keys, docs_workflow: str) -> list[int]:
    ids = []
    for i in range(3):
        response = client.post(
            ITEMS, json={"content": {"text": f"doc {i}"}}, headers=keys.auth(keys.admin)
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def _listed_ids(client: TestClient, keys: Keys) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get("/api/v1/items", params=params, headers=keys.auth(keys.admin))
        assert page.status_code == 200, page.text
        ids.extend(i["id"] for i in page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return sorted(ids)


HOSTILE = [
    ("deep-600", '{"content": ' + _nested(600) + "}", "content", "nested deeper than 32"),
    ("deep-33", '{"content": ' + _nested(33) + "}", "content", "nested deeper than 32"),
    ("surrogate", '{"content": {"text": "ok \\ud800 then"}}', "content.text", "lone surrogate"),
    ("surrogate-key", '{"content": {"\\udfff": 1}}', "content.(key)", "lone surrogate"),
    (
        "surrogate-metadata",
        '{"content": {}, "metadata": {"m": ["\\ud83d"]}}',
        "metadata.m.0",
        "lone",
    ),
    (
        "surrogate-external-id",
        '{"content": {}, "external_id": "\\ud800"}',
        "external_id",
        "unicode",
    ),
    ("nul", '{"content": {"text": "a\\u0000b"}}', "content.text", "nul characters"),
    ("nul-external-id", '{"content": {}, "external_id": "a\\u0000"}', "external_id", "nul"),
    ("nul-metadata-key", '{"content": {}, "metadata": {"\\u0000": 1}}', "metadata.(key)", "nul"),
    ("nan", '{"content": {"score": NaN}}', "content.score", "finite"),
    ("infinity", '{"content": {"score": -Infinity}}', "content.score", "finite"),
    (
        "too-many-elements",
        json.dumps({"content": {"xs": [0] * 100_001}}),
        "content",
        "more than 100000 keys and elements",
    ),
    ("deep-metadata", '{"content": {}, "metadata": ' + _nested(40) + "}", "metadata", "deeper"),
]


@pytest.mark.parametrize(
    ("case", "body", "field", "message"), HOSTILE, ids=[case[0] for case in HOSTILE]
)
def test_hostile_item_is_refused_with_422_naming_the_limit_and_nothing_is_stored(
    client: TestClient,
    keys: Keys,
    accepted: list[int],
    case: str,
    body: str,
    field: str,
    message: str,
) -> None:
    response = client.post(ITEMS, content=body, headers={**keys.auth(keys.admin), **JSON})
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"] == "validation_error"
    assert answer["field"] == field
    assert message in answer["detail"].lower()
    assert _listed_ids(client, keys) == sorted(accepted)
    for item_id in accepted:
        assert (
            client.get(f"/api/v1/items/{item_id}", headers=keys.auth(keys.admin)).status_code == 200
        )


def test_content_nested_too_deep_for_the_json_parser_answers_4xx_not_500(
    client: TestClient, keys: Keys, accepted: list[int]
) -> None:
    body = '{"content": ' + _nested(50_000) + "}"
    response = client.post(ITEMS, content=body, headers={**keys.auth(keys.admin), **JSON})
    assert 400 <= response.status_code < 500, response.text
    assert _listed_ids(client, keys) == sorted(accepted)


def test_a_batch_with_one_hostile_item_is_refused_whole_naming_its_index(
    client: TestClient, keys: Keys, accepted: list[int]
) -> None:
    body = (
        '{"items": [{"content": {"text": "fine"}}, {"content": {"text": "\\ud800"}}, '
        '{"content": ' + _nested(100) + "}]}"
    )
    response = client.post(
        f"{ITEMS}/batch", content=body, headers={**keys.auth(keys.admin), **JSON}
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "items.1.content.text"
    deep = '{"items": [{"content": {"text": "fine"}}, {"content": ' + _nested(100) + "}]}"
    response = client.post(
        f"{ITEMS}/batch", content=deep, headers={**keys.auth(keys.admin), **JSON}
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "items.1.content"
    assert _listed_ids(client, keys) == sorted(accepted)


@pytest.fixture
def small_items(db_url: str, client: TestClient) -> Iterator[TestClient]:
    """A second app on the same database whose item size limit is 2048 bytes."""
    small_ctx = create_context(make_settings(db_url, limits={"max_item_bytes": 2048}))
    with TestClient(create_app(ctx=small_ctx)) as test_client:
        yield test_client
    small_ctx.close()


def test_an_item_over_the_size_limit_answers_413_naming_the_setting(
    small_items: TestClient, client: TestClient, keys: Keys, accepted: list[int]
) -> None:
    fits = small_items.post(
        ITEMS, json={"content": {"text": "x" * 1500}}, headers=keys.auth(keys.admin)
    )
    assert fits.status_code == 201, fits.text
    too_big = small_items.post(
        ITEMS,
        json={"content": {"text": "x" * 1500}, "metadata": {"notes": "y" * 1000}},
        headers=keys.auth(keys.admin),
    )
    assert too_big.status_code == 413, too_big.text
    assert too_big.json()["error"] == "payload_too_large"
    assert too_big.json()["field"] == "content"
    assert "limits.max_item_bytes" in too_big.json()["detail"]
    batch = small_items.post(
        f"{ITEMS}/batch",
        json={"items": [{"content": {"text": "a"}}, {"content": {"text": "é" * 1500}}]},
        headers=keys.auth(keys.admin),
    )
    assert batch.status_code == 413, batch.text
    assert batch.json()["field"] == "items.1.content"
    assert _listed_ids(client, keys) == sorted([*accepted, fits.json()["id"]])


def test_content_at_the_limits_is_stored_processed_and_read_back(
    client: TestClient, keys: Keys, accepted: list[int], ctx: Context
) -> None:
    body = (
        '{"content": {"text": "Invoice \\ud83d\\ude00 caf\\u00e9", "tree": '
        + _nested(30)
        + '}, "metadata": {"m": "\\u2603"}}'
    )
    response = client.post(ITEMS, content=body, headers={**keys.auth(keys.admin), **JSON})
    assert response.status_code == 201, response.text
    item_id = response.json()["id"]
    while processing.process_batch(ctx, "w", processing.ProviderCache(ctx), 50):
        pass
    item = client.get(f"/api/v1/items/{item_id}", headers=keys.auth(keys.admin))
    assert item.status_code == 200
    assert item.json()["content"]["text"] == "Invoice 😀 café"
    assert item.json()["state"] != "received"
    assert item_id in _listed_ids(client, keys)
