"""Per-item compliance records and the bulk decision export, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fastapi.testclient import TestClient

from signoff.domain import compliance as compliance_rules
from signoff.services import compliance, delivery, intake, processing
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from tests import webhook_server
from tests.conftest import FAKE_WORKFLOW, Keys
from tests.integration.test_cli import assert_ok, assert_refused, output, run
from tests.integration.test_ui_security import sign_in

UNSURE = {"text": "who knows", "label": "other", "confidence": 0.3}
CONFIDENT = {"text": "an invoice", "label": "invoice", "confidence": 0.99}


def _process(ctx: Context) -> None:
    providers = processing.ProviderCache(ctx)
    while processing.process_batch(ctx, "test", providers, 100):
        pass


def _decide_as_reviewer(client: TestClient, keys: Keys, comment: str) -> int:
    claim = client.post("/api/v1/reviews/claim", headers=keys.auth(keys.reviewer)).json()
    task_id = claim["id"]
    response = client.post(
        f"/api/v1/tasks/{task_id}/decision",
        json={"outcome": "rejected", "labels": ["receipt"], "comment": comment},
        headers=keys.auth(keys.reviewer),
    )
    assert response.status_code == 200, response.text
    return int(task_id)


def test_item_record_holds_hash_model_routing_viewers_decision_deliveries_and_verification(
    ctx: Context, client: TestClient, keys: Keys
) -> None:
    received: list[bytes] = []

    def handle(body: bytes, headers: dict[str, str]) -> int:
        received.append(body)
        return 200

    with webhook_server.serving(handle) as url:
        source = FAKE_WORKFLOW + f'delivery: {{webhook_url: "{url}"}}\n'
        put = client.put("/api/v1/workflows/docs", content=source, headers=keys.auth(keys.admin))
        assert put.status_code == 201, put.text
        content = {"text": "who knows", "label": "other", "confidence": 0.3, "ü": [1, 2]}
        item_id = intake.submit_item(ctx, "docs", intake.NewItem(content=content), "t").item_id
        _process(ctx)
        sign_in(client, "reviewer@example.com", "reviewer-password-1")
        assert client.get(f"/ui/items/{item_id}").status_code == 200  # a `viewed` event
        client.cookies.clear()
        _decide_as_reviewer(client, keys, "not an invoice")
        while delivery.send_due(ctx):
            pass
    assert received

    refused = client.get(f"/api/v1/items/{item_id}/record", headers=keys.auth(keys.reviewer))
    assert refused.status_code == 403, refused.text
    response = client.get(f"/api/v1/items/{item_id}/record", headers=keys.auth(keys.auditor))
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["input"]["content_sha256"] == compliance_rules.content_hash(content)
    assert record["model"]["name"] and record["workflow_version"]["version"] == 1
    assert record["workflow_version"]["routing"]["threshold"] == 0.85
    assert record["prediction"]["label"] == "other" and record["prediction"]["confidence"] == 0.3
    assert record["routing"]["route"] == "human" and record["routing"]["threshold"] == 0.85
    assert "0.30 < 0.85" in record["routing"]["reasons"][0]
    assert [v["actor"] for v in record["viewed"]] == ["user:reviewer@example.com"]
    [review] = record["reviews"]
    assert review["assignee"] == "reviewer@example.com" and review["comment"] == "not an invoice"
    assert record["decision"]["outcome"] == "rejected"
    assert record["decision"]["decided_by"] == "user:reviewer@example.com"
    [webhook] = [d for d in record["deliveries"] if d["kind"] == "webhook"]
    assert webhook["status"] == "sent" and webhook["attempts"][0]["status_code"] == 200
    assert record["audit"]["verified"] is True
    types = [e["type"] for e in record["audit"]["events"]]
    assert types[0] == "received" and "viewed" in types and "decided" in types
    assert (
        client.get("/api/v1/items/999999/record", headers=keys.auth(keys.admin)).status_code == 404
    )

    sign_in(client, "auditor@example.com", "auditor-password-1")
    page = client.get(f"/ui/items/{item_id}/record")
    assert page.status_code == 200, page.text
    assert record["input"]["content_sha256"] in page.text
    assert "Verified" in page.text and "not an invoice" in page.text
    assert "@media print" in client.get("/ui/static/signoff.css").text


def _export(client: TestClient, token: str, **params: str) -> Any:
    return client.get(
        "/api/v1/workflows/docs/decisions/export", params=params, headers=Keys.auth(token)
    )


def test_decision_export_streams_csv_with_formula_cells_defused_and_jsonl_by_period(
    ctx: Context, client: TestClient, keys: Keys, docs_workflow: str, monkeypatch: Any
) -> None:
    monkeypatch.setattr(compliance, "EXPORT_PAGE", 2)  # several pages from a few items
    hostile = {"text": "x", "label": "other", "confidence": 0.3}
    ids = [
        intake.submit_item(
            ctx, "docs", intake.NewItem(content=CONFIDENT, external_id=f"ok-{n}"), "t"
        ).item_id
        for n in range(4)
    ]
    evil = intake.submit_item(
        ctx, "docs", intake.NewItem(content=hostile, external_id='=HYPERLINK("http://x")'), "t"
    ).item_id
    _process(ctx)
    _decide_as_reviewer(client, keys, "@SUM(A1:A2)")

    assert _export(client, keys.reviewer, format="csv").status_code == 403
    response = _export(client, keys.auditor, format="csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["item_id"]) for r in rows][:4] == ids
    assert len(rows) == 5
    [bad] = [r for r in rows if int(r["item_id"]) == evil]
    assert bad["external_id"] == '\'=HYPERLINK("http://x")'
    assert bad["comment"] == "'@SUM(A1:A2)"
    assert bad["content_sha256"] == compliance_rules.content_hash(hostile)
    assert all(not r[c].startswith(("=", "+", "-", "@")) for r in rows for c in r)

    lines = _export(client, keys.admin).text.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["item_id"] for r in records][:4] == ids
    assert records[-1]["external_id"] == '=HYPERLINK("http://x")'  # JSON is data, not a sheet
    last_at = records[-1]["decided_at"]
    later = _export(client, keys.admin, since=last_at).text.splitlines()
    assert [json.loads(x)["item_id"] for x in later] == [evil]
    before = _export(client, keys.admin, until=last_at).text.splitlines()
    assert len(before) == 4
    wrong = _export(client, keys.admin, since=last_at, until=records[0]["decided_at"])
    assert wrong.status_code == 200 and wrong.text == "", wrong.text  # an empty period
    numeric = _export(client, keys.admin, since="1700000000")
    assert numeric.status_code == 422 and numeric.json()["field"] == "query.since", numeric.text
    assert _export(client, keys.admin, format="xml").status_code == 422
    missing = client.get("/api/v1/workflows/nope/decisions/export", headers=keys.auth(keys.admin))
    assert missing.status_code == 404


def test_cli_exports_decisions_as_csv_to_a_file_and_jsonl_to_stdout(
    db_url: str, ctx: Context, tmp_path: Any
) -> None:
    workflow_service.apply_workflow(ctx, FAKE_WORKFLOW, "test")
    item_id = intake.submit_item(
        ctx, "docs", intake.NewItem(content=CONFIDENT, external_id="+cmd"), "t"
    ).item_id
    _process(ctx)
    target = tmp_path / "out.csv"
    result = run(
        db_url,
        "export",
        "decisions",
        "--workflow",
        "docs",
        "--format",
        "csv",
        "--output",
        str(target),
    )
    assert_ok(result)
    [row] = list(csv.DictReader(target.open(encoding="utf-8")))
    assert int(row["item_id"]) == item_id and row["external_id"] == "'+cmd"
    jsonl = run(db_url, "export", "decisions", "--workflow", "docs", "--since", "2000-01-01")
    assert_ok(jsonl)
    assert json.loads(jsonl.stdout.splitlines()[0])["item_id"] == item_id
    none = run(db_url, "export", "decisions", "--workflow", "docs", "--until", "2000-01-01")
    assert_ok(none)
    assert none.stdout == ""
    assert_refused(
        run(db_url, "export", "decisions", "--workflow", "docs", "--since", "yesterday"),
        "--since",
    )
    assert "nope" in output(run(db_url, "export", "decisions", "--workflow", "nope"))
