"""Multi-label decisions and typed review fields: validated on decide (REST and UI), stored
with the decision, delivered in the signed webhook and in GET item."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signoff.services import delivery, processing
from signoff.services.context import Context
from tests import webhook_server
from tests.conftest import Keys
from tests.integration.test_delivery import Receiver

WORKFLOW = """
name: claims
labels: [damage, fraud, theft, other]
labels_mode: multi
ai: {{provider: fake, retries: 0}}
routing: {{threshold: 0.85}}
review:
  fields:
    - {{name: amount_due, type: number, min: 0, max: 100000, required: true}}
    - {{name: incident_date, type: date, label: Date of the incident}}
    - {{name: department, type: choice, choices: [motor, home]}}
    - {{name: note, type: text, max: 20}}
delivery: {{webhook_url: "{url}"}}
"""
VALID = {"amount_due": "1250.5", "incident_date": "2026-11-30", "department": "motor"}


@pytest.fixture
def receiver(ctx: Context) -> Iterator[Receiver]:
    state = Receiver(secret=delivery.webhook_secret(ctx, None))
    with webhook_server.serving(state.handle) as url:
        state.url = url
        yield state


@pytest.fixture
def task_id(client: TestClient, keys: Keys, ctx: Context, receiver: Receiver) -> int:
    put = client.put(
        "/api/v1/workflows/claims",
        content=WORKFLOW.format(url=receiver.url),
        headers=keys.auth(keys.admin),
    )
    assert put.status_code == 201, put.text
    submitted = client.post(
        "/api/v1/workflows/claims/items",
        json={
            "content": {
                "text": "Car window smashed, radio taken",
                "label": "theft",
                "confidence": 0.5,
            }
        },
        headers=keys.auth(keys.admin),
    )
    assert submitted.status_code == 201, submitted.text
    processing.process_batch(ctx, "w", processing.ProviderCache(ctx), 10)
    claimed = client.post("/api/v1/reviews/claim", headers=keys.auth(keys.reviewer))
    assert claimed.status_code == 200, claimed.text
    return int(claimed.json()["id"])


def _decide(client: TestClient, keys: Keys, task_id: int, **body: Any) -> Any:
    return client.post(
        f"/api/v1/tasks/{task_id}/decision",
        json={"outcome": "approved", **body},
        headers=keys.auth(keys.reviewer),
    )


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({}, "fields.amount_due", "is required"),
        ({**VALID, "amount_due": "-3"}, "fields.amount_due", "at least 0"),
        ({**VALID, "amount_due": "lots"}, "fields.amount_due", "must be a number"),
        ({**VALID, "amount_due": True}, "fields.amount_due", "must be a number"),
        ({**VALID, "amount_due": 1e300}, "fields.amount_due", "finite number"),
        ({**VALID, "incident_date": "30/11/2026"}, "fields.incident_date", "YYYY-MM-DD"),
        ({**VALID, "incident_date": "2026-02-30"}, "fields.incident_date", "YYYY-MM-DD"),
        ({**VALID, "department": "travel"}, "fields.department", "one of"),
        ({**VALID, "note": "x" * 21}, "fields.note", "at most 20"),
        ({**VALID, "surprise": 1}, "fields", "unknown field"),
    ],
)
def test_a_bad_field_value_is_refused_naming_the_field_and_nothing_is_decided(
    client: TestClient, keys: Keys, task_id: int, fields: dict[str, Any], field: str, words: str
) -> None:
    refused = _decide(client, keys, task_id, labels=["theft"], fields=fields)
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["error"] == "validation_error" and body["field"] == field
    assert words in body["detail"]
    task = client.get(f"/api/v1/tasks/{task_id}", headers=keys.auth(keys.reviewer)).json()
    assert task["status"] == "assigned"


def test_several_labels_and_typed_fields_are_stored_returned_and_delivered(
    client: TestClient, keys: Keys, ctx: Context, task_id: int, receiver: Receiver
) -> None:
    unknown = _decide(client, keys, task_id, labels=["theft", "piracy"], fields=VALID)
    assert unknown.status_code == 422 and unknown.json()["field"] == "labels"
    twice = _decide(client, keys, task_id, labels=["theft", "theft"], fields=VALID)
    assert twice.status_code == 422 and twice.json()["field"] == "labels"

    decided = _decide(
        client, keys, task_id, labels=["theft", "damage"], fields={**VALID, "note": "  "}
    )
    assert decided.status_code == 200, decided.text
    item_id = decided.json()["item_id"]
    item = client.get(f"/api/v1/items/{item_id}", headers=keys.auth(keys.admin)).json()
    decision = item["decision"]
    assert decision["labels"] == ["theft", "damage"] and decision["label"] == "theft"
    # Typed: the number is a number, the date normalised, the blank optional text left out.
    assert decision["fields"] == {
        "amount_due": 1250.5,
        "incident_date": "2026-11-30",
        "department": "motor",
    }
    assert decision["override"] is True  # the AI said theft only

    assert delivery.send_due(ctx) == 1
    [sent] = [r for r in receiver.requests if r.verified]
    data = json.loads(sent.body)["data"]
    assert data["labels"] == ["theft", "damage"] and data["fields"] == decision["fields"]

    events = client.get(f"/api/v1/items/{item_id}/events", headers=keys.auth(keys.admin)).json()
    [decided_event] = [e for e in events["events"] if e["type"] == "decided"]
    assert decided_event["data"]["fields"] == decision["fields"]
    assert events["verified"] is True


def test_a_single_label_workflow_refuses_two_labels(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    put = client.put(
        "/api/v1/workflows/docs",
        content="name: docs\nlabels: [a, b]\nai: {provider: fake, retries: 0}\n"
        "routing: {threshold: 0.85}\n",
        headers=keys.auth(keys.admin),
    )
    assert put.status_code == 201, put.text
    client.post(
        "/api/v1/workflows/docs/items",
        json={"content": {"label": "a", "confidence": 0.5}},
        headers=keys.auth(keys.admin),
    )
    processing.process_batch(ctx, "w", processing.ProviderCache(ctx), 10)
    claimed = client.post("/api/v1/reviews/claim", headers=keys.auth(keys.reviewer)).json()
    refused = _decide(client, keys, claimed["id"], labels=["a", "b"])
    assert refused.status_code == 422
    assert refused.json()["field"] == "labels" and "labels_mode" in refused.json()["detail"]
    assert _decide(client, keys, claimed["id"], labels=["b"]).status_code == 200


@pytest.mark.parametrize(
    ("field_spec", "words"),
    [
        ("{name: kind, type: choice}", "needs choices"),
        ("{name: n, type: number, min: 5, max: 1}", "min is above max"),
        ("{name: n, type: number, max: .nan}", "review.fields"),
        ("{name: n, type: number, max: 1e20}", "review.fields"),
        ("{name: d, type: date, min: 1}", "number and text"),
        ("{name: Bad-Name, type: text}", "review.fields"),
        ("{name: t, type: colour}", "review.fields"),
    ],
)
def test_a_malformed_field_declaration_is_refused_when_the_workflow_is_applied(
    client: TestClient, keys: Keys, field_spec: str, words: str
) -> None:
    put = client.put(
        "/api/v1/workflows/bad",
        content=f"name: bad\nlabels: [a, b]\nreview: {{fields: [{field_spec}]}}\n",
        headers=keys.auth(keys.admin),
    )
    assert put.status_code == 422, put.text
    assert words in json.dumps(put.json())


def _sign_in(client: TestClient) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text)
    assert token
    client.post(
        "/ui/login",
        data={
            "email": "reviewer@example.com",
            "password": "reviewer-password-1",
            "csrf_token": token[1],
        },
    )


def test_the_review_form_shows_typed_inputs_and_refuses_a_bad_value_naming_it(
    client: TestClient, keys: Keys, task_id: int
) -> None:
    _sign_in(client)
    task = client.get(f"/api/v1/tasks/{task_id}", headers=keys.auth(keys.reviewer)).json()
    page = client.get(f"/ui/items/{task['item_id']}").text
    assert 'type="number" step="any" name="field_amount_due"' in page
    assert 'type="date" name="field_incident_date"' in page
    assert '<select name="field_department"' in page
    assert 'name="label_0"' in page and 'name="label_2" value="1" checked' in page  # AI: theft
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    form = {
        "csrf_token": csrf[1],
        "outcome": "approved",
        "label_2": "1",
        "label_3": "1",
        "field_amount_due": "12",
        "field_incident_date": "2026-13-01",
        "field_department": "home",
    }
    refused = client.post(f"/ui/tasks/{task_id}/decide", data=form)
    assert refused.status_code == 422
    assert "fields.incident_date" in refused.text
    # The form comes back with what the reviewer entered.
    assert (
        'value="2026-13-01"' in refused.text and 'name="label_3" value="1" checked' in refused.text
    )

    accepted = client.post(
        f"/ui/tasks/{task_id}/decide", data={**form, "field_incident_date": "2026-12-01"}
    )
    assert accepted.status_code in (200, 303), accepted.text
    item = client.get(f"/api/v1/items/{task['item_id']}", headers=keys.auth(keys.admin)).json()
    assert item["decision"]["labels"] == ["theft", "other"]
    assert item["decision"]["fields"] == {
        "amount_due": 12,
        "incident_date": "2026-12-01",
        "department": "home",
    }
    shown = client.get(f"/ui/items/{task['item_id']}").text
    assert 'data-field="amount_due">12<' in shown and "theft, other" in shown


def test_the_python_client_decides_with_labels_and_fields(
    app: Any, ctx: Context, keys: Keys, receiver: Receiver
) -> None:
    from signoff.client import ApiError, Client
    from tests.live_server import serve

    with serve(app) as url, Client(url, keys.admin) as admin, Client(url, keys.reviewer) as rev:
        admin.apply_workflow("claims", WORKFLOW.format(url=receiver.url))
        item = admin.submit("claims", {"text": "hail", "label": "damage", "confidence": 0.4})
        processing.process_batch(ctx, "w", processing.ProviderCache(ctx), 10)
        task = rev.claim("claims")
        assert task is not None
        with pytest.raises(ApiError) as refused:
            rev.decide(task["id"], "approved", fields={"amount_due": -1})
        assert refused.value.status == 422 and "fields.amount_due" in str(refused.value)
        rev.decide(task["id"], "approved", labels=["damage", "other"], fields={"amount_due": 300})
        decision = admin.get(item["id"])["decision"]
        assert decision["labels"] == ["damage", "other"]
        assert decision["fields"] == {"amount_due": 300}
