"""The stop switch on SQLite and PostgreSQL: pause refuses intake or sends all to people."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.services import intake, processing
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.storage import audit
from signoff.storage import tables as t
from tests.conftest import FAKE_WORKFLOW, Keys
from tests.integration.test_cli import assert_ok, assert_refused, output, run
from tests.integration.test_ui_security import sign_in

CONFIDENT = {"text": "an invoice", "label": "invoice", "confidence": 0.99}


def _process(ctx: Context) -> None:
    providers = processing.ProviderCache(ctx)
    while processing.process_batch(ctx, "test", providers, 100):
        pass


def _system_events(ctx: Context) -> list[Any]:
    with ctx.sessions() as session:
        return list(
            session.execute(
                sa.select(t.audit_events)
                .where(t.audit_events.c.chain == audit.SYSTEM_CHAIN)
                .order_by(t.audit_events.c.seq)
            )
        )


def _count_items(ctx: Context) -> int:
    with ctx.sessions() as session:
        return int(session.execute(sa.select(sa.func.count()).select_from(t.items)).scalar_one())


def test_refuse_pause_answers_intake_503_naming_the_pause_until_resumed(
    ctx: Context, client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    admin = keys.auth(keys.admin)
    refused = client.post(
        "/api/v1/workflows/docs/pause",
        json={"mode": "refuse", "reason": "model drift"},
        headers=keys.auth(keys.reviewer),
    )
    assert refused.status_code == 403, refused.text
    bad = client.post("/api/v1/workflows/docs/pause", json={"mode": "stop"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["field"] == "mode", bad.text
    missing = client.post("/api/v1/workflows/nope/pause", json={"mode": "refuse"}, headers=admin)
    assert missing.status_code == 404, missing.text

    paused = client.post(
        "/api/v1/workflows/docs/pause",
        json={"mode": "refuse", "reason": "model drift"},
        headers=admin,
    )
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] is True
    shown = client.get("/api/v1/workflows/docs", headers=keys.auth(keys.reviewer)).json()
    assert shown["pause"]["mode"] == "refuse" and shown["pause"]["reason"] == "model drift"
    assert shown["pause"]["by"] == "user:admin@example.com" and shown["pause"]["at"]

    submit = client.post("/api/v1/workflows/docs/items", json={"content": CONFIDENT}, headers=admin)
    assert submit.status_code == 503, submit.text
    body = submit.json()
    assert body["error"] == "workflow_paused" and "model drift" in body["detail"]
    assert body["paused"]["workflow"] == "docs" and body["paused"]["mode"] == "refuse"
    assert int(submit.headers["retry-after"]) >= 3600
    batch = client.post(
        "/api/v1/workflows/docs/items/batch",
        json={"items": [{"content": CONFIDENT}]},
        headers=admin,
    )
    assert batch.status_code == 503 and batch.json()["error"] == "workflow_paused", batch.text
    assert _count_items(ctx) == 0

    resumed = client.post("/api/v1/workflows/docs/resume", headers=admin)
    assert resumed.status_code == 200 and resumed.json()["paused"] is False, resumed.text
    again = client.post("/api/v1/workflows/docs/resume", headers=admin)
    assert again.status_code == 409, again.text
    accepted = client.post(
        "/api/v1/workflows/docs/items", json={"content": CONFIDENT}, headers=admin
    )
    assert accepted.status_code == 201, accepted.text

    events = [(e.type, e.actor, e.data) for e in _system_events(ctx)]
    kinds = [k for k, _a, _d in events]
    assert kinds[-2:] == ["workflow_paused", "workflow_resumed"]
    assert events[-2][2] == {"workflow": "docs", "mode": "refuse", "reason": "model drift"}
    assert events[-1][1] == "user:admin@example.com"
    assert events[-1][2]["paused_by"] == "user:admin@example.com"
    trail = client.get("/api/v1/items/" + str(accepted.json()["id"]) + "/events", headers=admin)
    assert trail.json()["verified"] is True


def test_all_to_people_pause_routes_every_item_to_review_with_reason_paused(
    ctx: Context, client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    admin = keys.auth(keys.admin)
    before = intake.submit_item(ctx, "docs", intake.NewItem(content=CONFIDENT), "t").item_id
    _process(ctx)
    response = client.post(
        "/api/v1/workflows/docs/pause",
        json={"mode": "all_to_people", "reason": "incident 42"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    during = client.post("/api/v1/workflows/docs/items", json={"content": CONFIDENT}, headers=admin)
    assert during.status_code == 201, during.text
    _process(ctx)
    item = client.get(f"/api/v1/items/{during.json()['id']}", headers=admin).json()
    assert item["state"] == "in_review"
    assert item["route"]["route"] == "human" and item["route"]["reasons"][0] == "paused"
    first = client.get(f"/api/v1/items/{before}", headers=admin).json()
    assert first["state"] == "approved"  # decided before the pause

    client.post("/api/v1/workflows/docs/resume", headers=admin)
    after = intake.submit_item(ctx, "docs", intake.NewItem(content=CONFIDENT), "t").item_id
    _process(ctx)
    assert client.get(f"/api/v1/items/{after}", headers=admin).json()["state"] == "approved"


def test_workflow_page_shows_the_pause_banner_and_pauses_and_resumes_with_buttons(
    ctx: Context, client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    csrf = sign_in(client, "admin@example.com", "admin-password-1")
    page = client.get("/ui/admin/workflows/docs")
    assert page.status_code == 200 and "Pause workflow" in page.text, page.text
    posted = client.post(
        "/ui/admin/workflows/docs/pause",
        data={"mode": "refuse", "reason": "audit <finding>", "csrf_token": csrf},
    )
    assert posted.status_code == 200, posted.text
    assert 'class="banner paused"' in posted.text
    assert "audit &lt;finding&gt;" in posted.text and "<finding>" not in posted.text
    assert "Resume workflow" in posted.text
    queue = client.get("/ui/")
    assert 'class="banner paused"' in queue.text and "docs" in queue.text
    resumed = client.post("/ui/admin/workflows/docs/resume", data={"csrf_token": csrf})
    assert resumed.status_code == 200 and 'class="banner paused"' not in resumed.text
    forged = client.post("/ui/admin/workflows/docs/pause", data={"mode": "refuse"})
    assert forged.status_code == 403, forged.text


def test_cli_pauses_and_resumes_a_workflow(db_url: str, ctx: Context) -> None:
    workflow_service.apply_workflow(ctx, FAKE_WORKFLOW, "test")
    paused = run(db_url, "workflows", "pause", "docs", "--mode", "all_to_people", "--reason", "x")
    assert_ok(paused)
    assert "workflow docs paused (all_to_people)" in output(paused)
    assert workflow_service.get_workflow(ctx, "docs").pause is not None
    assert_ok(run(db_url, "workflows", "resume", "docs"))
    assert workflow_service.get_workflow(ctx, "docs").pause is None
    assert_refused(run(db_url, "workflows", "resume", "docs"), "not paused")
    assert_refused(run(db_url, "workflows", "pause", "nope"), "nope")
    types = [e.type for e in _system_events(ctx)]
    assert types[-2:] == ["workflow_paused", "workflow_resumed"]
    assert [e.actor for e in _system_events(ctx)][-1] == "cli"
