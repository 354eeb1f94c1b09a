"""Blind review and gold items through the REST API and the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.domain import oversight as rules
from signoff.services import processing
from signoff.services.context import Context
from signoff.storage import items, models
from signoff.storage import tables as t
from tests.conftest import Keys
from tests.integration import test_cli
from tests.integration.test_ui_security import sign_in

# The fake model answers `receipt` at 0.42 whatever the content says, so nothing in an
# item's content gives its prediction away.
BLIND = """
name: watched
labels: [invoice, contract, receipt, other]
ai: {provider: fake, retries: 0, options: {label: receipt, confidence: 0.42}}
routing: {threshold: 0.85}
review: {outcomes: [approved, rejected], blind_rate: 1.0}
"""

GOLD = """
name: checked
labels: [invoice, contract, receipt, other]
ai: {provider: fake, retries: 0, options: {label: receipt, confidence: 0.42}}
routing: {threshold: 0.85}
delivery: {webhook_url: "https://hooks.example.com/decided"}
review: {outcomes: [approved, rejected], gold_rate: 0.5, gold_floor: 0.8}
"""


def _apply(client: TestClient, keys: Keys, source: str, name: str) -> None:
    response = client.put(
        f"/api/v1/workflows/{name}", content=source, headers=keys.auth(keys.admin)
    )
    assert response.status_code == 201, response.text


def _work(client: TestClient) -> None:
    """Run the AI step until no item is waiting (gold released by a batch is picked up next)."""
    ctx: Context = client.app.state.ctx  # type: ignore[attr-defined]
    while processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 500):
        pass


def _submit(
    client: TestClient, keys: Keys, workflow: str, texts: list[str], token: str | None = None
) -> list[int]:
    response = client.post(
        f"/api/v1/workflows/{workflow}/items/batch",
        json={"items": [{"content": {"text": text}} for text in texts]},
        headers=keys.auth(token or keys.admin),
    )
    assert response.status_code == 201, response.text
    _work(client)
    return [r["id"] for r in response.json()["items"]]


def _claim(client: TestClient, token: str, workflow: str) -> dict[str, Any]:
    response = client.post(
        "/api/v1/reviews/claim", json={"workflow": workflow}, headers=Keys.auth(token)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _decide(client: TestClient, token: str, task_id: int, **body: Any) -> Any:
    return client.post(f"/api/v1/tasks/{task_id}/decision", json=body, headers=Keys.auth(token))


def _row(ctx: Context, item_id: int) -> Any:
    with ctx.sessions() as session:
        return session.execute(sa.select(t.items).where(t.items.c.id == item_id)).one()


def _shape(value: Any) -> Any:
    """The JSON's structure: keys and types, not values."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__


# -- blind review ------------------------------------------------------------------------------


def test_blind_task_reaches_the_reviewer_without_the_ai_suggestion(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, BLIND, "watched")
    [item_id] = _submit(client, keys, "watched", ["Payment of 12 euros, thank you"])
    assert _row(ctx, item_id).blind is True

    task = _claim(client, keys.reviewer, "watched")
    text = json.dumps(task)
    assert task["item"]["prediction"] is None
    assert task["item"]["route"] == {"route": "human", "reasons": [], "threshold": None}
    assert "receipt" not in text and "0.42" not in text
    for path in (f"/api/v1/tasks/{task['id']}", f"/api/v1/items/{item_id}"):
        body = client.get(path, headers=keys.auth(keys.reviewer)).text
        assert "receipt" not in body and "0.42" not in body, path
    events = client.get(f"/api/v1/items/{item_id}/events", headers=keys.auth(keys.reviewer))
    assert events.status_code == 200
    assert "receipt" not in events.text and "0.42" not in events.text
    assert events.json()["verified"] is True


def test_blind_item_shows_in_the_reviewers_queue_without_the_ai_answer(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, BLIND, "watched")
    [item_id] = _submit(client, keys, "watched", ["Payment of 12 euros"])
    sign_in(client, "reviewer@example.com", "reviewer-password-1")
    queue = client.get("/ui/queue")
    assert queue.status_code == 200
    assert f"/ui/items/{item_id}" in queue.text
    assert "receipt" not in queue.text.replace('value="receipt"', "")
    assert "0.42" not in queue.text
    page = client.get(f"/ui/items/{item_id}")
    assert 'id="blind-review"' in page.text
    assert "0.42" not in page.text and "(AI)" not in page.text
    assert 'class="label-chip"' not in page.text


def test_blind_choice_is_audited_and_admins_and_auditors_still_see_the_suggestion(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, BLIND, "watched")
    [item_id] = _submit(client, keys, "watched", ["Payment of 12 euros"])
    for token in (keys.admin, keys.auditor):
        item = client.get(f"/api/v1/items/{item_id}", headers=keys.auth(token)).json()
        assert item["prediction"]["label"] == "receipt"
        assert item["prediction"]["confidence"] == pytest.approx(0.42)
    events = client.get(f"/api/v1/items/{item_id}/events", headers=keys.auth(keys.auditor)).json()
    routed = next(e for e in events["events"] if e["type"] == "routed_to_review")
    assert routed["data"]["blind"] is True
    assert routed["data"]["label"] == "receipt"


def test_blind_decision_needs_the_reviewers_own_label(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, BLIND, "watched")
    [item_id] = _submit(client, keys, "watched", ["Invoice 7 from ACME"])
    task = _claim(client, keys.reviewer, "watched")
    refused = _decide(client, keys.reviewer, task["id"], outcome="approved")
    assert refused.status_code == 422
    assert refused.json()["field"] == "label"
    done = _decide(client, keys.reviewer, task["id"], outcome="approved", label="invoice")
    assert done.status_code == 200, done.text
    # The decided item, read back by its reviewer, does not say whether they agreed.
    item = client.get(f"/api/v1/items/{item_id}", headers=keys.auth(keys.reviewer)).json()
    assert item["decision"]["label"] == "invoice"
    assert item["decision"]["override"] is None and item["prediction"] is None
    assert _row(ctx, item_id).override is True


def test_blind_rate_marks_the_hashed_fraction_of_human_routed_items(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, BLIND.replace("blind_rate: 1.0", "blind_rate: 0.5"), "watched")
    ids = _submit(client, keys, "watched", [f"document {n}" for n in range(40)])
    assert [_row(ctx, i).blind for i in ids] == [rules.is_blind(i, 0.5) for i in ids]
    assert 0 < sum(_row(ctx, i).blind for i in ids) < 40


def test_notifications_of_a_blind_item_omit_the_suggestion_and_the_decision_links(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    source = BLIND + "notify: [{channel: email, to: assignee, on: [task.assigned]}]\n"
    _apply(client, keys, source, "watched")
    [item_id] = _submit(client, keys, "watched", ["Payment of 12 euros"])
    _claim(client, keys.reviewer, "watched")
    with ctx.sessions() as session:
        payloads = [
            r.payload
            for r in session.execute(sa.select(t.outbox).where(t.outbox.c.item_id == item_id))
        ]
    assert payloads, "the assignee is told of the task"
    for payload in payloads:
        assert payload["item"]["label"] is None and payload["item"]["confidence"] is None
        assert payload["actions"] == {}, "no decision link: a blind item is decided on its page"
        assert "receipt" not in json.dumps(payload) and "0.42" not in json.dumps(payload)


def test_metrics_compare_agreement_with_the_ai_on_blind_and_assisted_tasks(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, BLIND.replace("blind_rate: 1.0", "blind_rate: 0.5"), "watched")
    ids = _submit(client, keys, "watched", [f"document {n}" for n in range(30)])
    blind = {i for i in ids if rules.is_blind(i, 0.5)}
    for _ in ids:
        task = _claim(client, keys.reviewer, "watched")
        # Assisted, the reviewer takes the AI's label; blind, they disagree half the time.
        label = "receipt" if task["item_id"] not in blind or task["item_id"] % 2 else "invoice"
        done = _decide(client, keys.reviewer, task["id"], outcome="approved", label=label)
        assert done.status_code == 200, done.text
    summary = client.get(
        "/api/v1/metrics/summary?workflow=watched&since=all", headers=keys.auth(keys.admin)
    ).json()
    [row] = summary["oversight"]["automation_bias"]["workflows"]
    agreeing_blind = sum(1 for i in blind if i % 2)
    expected_blind = rules.wilson(agreeing_blind, len(blind)).public()
    assert row["blind"] == expected_blind
    assert row["assisted"] == rules.wilson(30 - len(blind), 30 - len(blind)).public()
    assert row["assisted_minus_blind"] == pytest.approx(1 - agreeing_blind / len(blind), abs=1e-4)
    [reviewer] = summary["oversight"]["automation_bias"]["reviewers"]
    assert reviewer["reviewer"] == "reviewer@example.com"
    assert reviewer["blind"] == expected_blind
    sign_in(client, "admin@example.com", "admin-password-1")
    page = client.get("/ui/dashboard?workflow=watched&range=all")
    assert page.status_code == 200
    table = page.text.split('id="automation-bias"', 1)[1].split("</table>", 1)[0]
    assert 'data-workflow="watched"' in table
    assert f"n={len(blind)}" in table and f"n={30 - len(blind)}" in table


# -- gold items --------------------------------------------------------------------------------


def _import_gold(client: TestClient, keys: Keys, items: list[dict[str, Any]]) -> Any:
    return client.post(
        "/api/v1/workflows/checked/gold", json={"items": items}, headers=keys.auth(keys.admin)
    )


def test_gold_import_refuses_bad_input_naming_the_field(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, GOLD, "checked")
    unknown = _import_gold(client, keys, [{"content": {"text": "x"}, "label": "nope"}])
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "items.0.label"
    missing = _import_gold(client, keys, [{"label": "invoice"}])
    assert missing.status_code == 422
    assert "content" in json.dumps(missing.json())
    reviewer = client.post(
        "/api/v1/workflows/checked/gold",
        json={"items": [{"content": {"text": "x"}, "label": "invoice"}]},
        headers=keys.auth(keys.reviewer),
    )
    assert reviewer.status_code == 403
    nowhere = client.post(
        "/api/v1/workflows/absent/gold",
        json={"items": [{"content": {"text": "x"}, "label": "invoice"}]},
        headers=keys.auth(keys.admin),
    )
    assert nowhere.status_code == 404


def test_gold_items_are_mixed_in_at_the_rate_and_look_like_any_task(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, GOLD, "checked")
    imported = _import_gold(
        client,
        keys,
        [{"content": {"text": f"Invoice {n} from ACME"}, "label": "invoice"} for n in range(5)],
    )
    assert imported.status_code == 201, imported.text
    assert imported.json() == {"workflow": "checked", "imported": 5, "released": 0, "waiting": 5}

    # The application submits with its own key; the gold came from an admin.
    real_ids = _submit(
        client, keys, "checked", ["Invoice 9 from Initech", "Receipt for coffee"], keys.service
    )
    with ctx.sessions() as session:
        gold_rows = list(
            session.execute(sa.select(t.items).where(t.items.c.gold_label.is_not(None)))
        )
    # gold_rate 0.5: as many gold tasks as application tasks.
    assert len(gold_rows) == 2
    assert all(r.state == "in_review" for r in gold_rows)

    sign_in(client, "reviewer@example.com", "reviewer-password-1")
    seen: dict[bool, dict[str, Any]] = {}
    for _ in range(4):
        task = _claim(client, keys.reviewer, "checked")
        is_gold = task["item_id"] not in real_ids
        seen[is_gold] = task
        page = client.get(f"/ui/items/{task['item_id']}")
        assert page.status_code == 200
        assert 'name="outcome"' in page.text, "the reviewer's own decision form"
        assert "gold" not in page.text.lower()
        assert "gold" not in json.dumps(task).lower()
        trail = client.get(
            f"/api/v1/items/{task['item_id']}/events", headers=keys.auth(keys.reviewer)
        ).json()
        assert [e["type"] for e in trail["events"]][:3] == [
            "received",
            "claimed",
            "routed_to_review",
        ]
        assert trail["events"][0]["actor"] == "intake"
        assert "admin@example.com" not in json.dumps(trail) + page.text
        assert (
            _decide(
                client, keys.reviewer, task["id"], outcome="approved", label="invoice"
            ).status_code
            == 200
        )
    assert _shape(seen[True]) == _shape(seen[False])
    assert seen[True]["item"]["route"] == seen[False]["item"]["route"]


def test_a_backlog_from_before_the_import_makes_no_room_for_gold(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, GOLD, "checked")
    _submit(client, keys, "checked", [f"Old note {n}" for n in range(4)])
    gold = [
        {"content": {"text": f"Invoice {n}"}, "label": "invoice", "external_id": f"doc-{n}"}
        for n in range(4)
    ]
    imported = _import_gold(client, keys, gold)
    assert imported.json()["released"] == 0
    _submit(client, keys, "checked", ["New note 1", "New note 2"])
    with ctx.sessions() as session:
        released = session.execute(
            sa.select(sa.func.count())
            .select_from(t.gold_items)
            .where(t.gold_items.c.item_id.is_not(None))
        ).scalar_one()
    assert released == 2  # gold_rate 0.5 of the tasks since the import
    with ctx.sessions() as session:
        external = session.execute(
            sa.select(t.items.c.external_id)
            .where(t.items.c.gold_label.is_not(None))
            .order_by(t.items.c.id)
        ).scalars()
        assert list(external) == ["doc-0", "doc-1"]


def test_gold_item_goes_to_a_person_even_when_the_ai_is_sure(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, GOLD.replace("confidence: 0.42", "confidence: 0.99"), "checked")
    _import_gold(client, keys, [{"content": {"text": "Invoice 1"}, "label": "invoice"}])
    [real] = _submit(client, keys, "checked", ["Receipt for coffee"])
    assert _row(ctx, real).route == "auto"
    # An automatic decision is no review task: no gold is mixed in for it.
    with ctx.sessions() as session:
        assert (
            session.execute(sa.select(sa.func.count()).select_from(t.review_tasks)).scalar_one()
            == 0
        )
    source = GOLD.replace("confidence: 0.42", "confidence: 0.99").replace(
        "routing: {threshold: 0.85}", "routing: {threshold: 0.85, qa_sample_rate: 1.0}"
    )
    client.put("/api/v1/workflows/checked", content=source, headers=keys.auth(keys.admin))
    _submit(client, keys, "checked", ["Receipt for tea"])
    with ctx.sessions() as session:
        [gold] = session.execute(sa.select(t.items).where(t.items.c.gold_label.is_not(None))).all()
    assert (gold.route, gold.route_reasons, gold.state) == ("human", ["qa_sample"], "in_review")


def test_gold_decisions_never_reach_the_application(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, GOLD, "checked")
    _import_gold(client, keys, [{"content": {"text": "Invoice 1 from ACME"}, "label": "invoice"}])
    [real] = _submit(client, keys, "checked", ["Receipt for coffee"])
    for _ in range(2):
        task = _claim(client, keys.reviewer, "checked")
        assert (
            _decide(
                client, keys.reviewer, task["id"], outcome="approved", label="invoice"
            ).status_code
            == 200
        )
    with ctx.sessions() as session:
        [gold_id] = session.execute(
            sa.select(t.items.c.id).where(t.items.c.gold_label.is_not(None))
        ).scalars()
        webhooks = list(
            session.execute(
                sa.select(t.outbox.c.item_id).where(t.outbox.c.kind == "webhook")
            ).scalars()
        )
        examples = list(session.execute(sa.select(t.labelled_examples.c.item_id)).scalars())
    assert webhooks == [real]
    assert examples == [real]
    with ctx.sessions() as session:
        workflow_id = session.execute(
            sa.select(t.workflows.c.id).where(t.workflows.c.name == "checked")
        ).scalar_one()
        # What calibration learns the threshold from: the application's review only.
        assert len(items.list_reviewed_confidences(session, workflow_id)) == 1
    # The application's key neither lists nor reads nor waits for it.
    listed = client.get("/api/v1/items?workflow=checked", headers=keys.auth(keys.service)).json()
    assert [i["id"] for i in listed["items"]] == [real]
    for path in (f"/api/v1/items/{gold_id}", f"/api/v1/items/{gold_id}/wait?timeout=0"):
        assert client.get(path, headers=keys.auth(keys.service)).status_code == 404, path
    summary = client.get(
        "/api/v1/metrics/summary?workflow=checked&since=all", headers=keys.auth(keys.admin)
    ).json()
    assert summary["decisions"]["total"] == 1
    assert summary["items_received"] == 1
    # Nor do the decisions export and Prometheus count it, as the dashboard does not.
    export = client.get(
        "/api/v1/workflows/checked/decisions/export?format=jsonl", headers=keys.auth(keys.admin)
    )
    assert export.status_code == 200, export.text
    assert [json.loads(line)["item_id"] for line in export.text.splitlines()] == [real]
    scraped = client.get("/metrics").text
    assert 'signoff_decisions_total{route="human",workflow="checked"} 1.0' in scraped
    assert 'signoff_items{state="approved",workflow="checked"} 1.0' in scraped


def test_reviewer_below_the_gold_floor_is_flagged_once_and_audited(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, GOLD, "checked")
    _import_gold(
        client, keys, [{"content": {"text": f"Invoice {n}"}, "label": "invoice"} for n in range(6)]
    )
    real = set(_submit(client, keys, "checked", [f"Note {n}" for n in range(6)]))
    for _ in range(12):
        task = _claim(client, keys.reviewer, "checked")
        # The reviewer gets every gold item wrong.
        assert (
            _decide(
                client, keys.reviewer, task["id"], outcome="approved", label="other"
            ).status_code
            == 200
        )
    summary = client.get(
        "/api/v1/metrics/summary?workflow=checked&since=all", headers=keys.auth(keys.admin)
    ).json()
    [score] = summary["oversight"]["gold"]["reviewers"]
    assert score["reviewer"] == "reviewer@example.com"
    assert score["accuracy"] == rules.wilson(0, 6).public()
    assert score["below_floor"] is True and score["flagged_at"] is not None
    [flag] = summary["oversight"]["gold"]["flagged"]
    assert flag["reviewer"] == "reviewer@example.com" and flag["n"] <= 6
    with ctx.sessions() as session:
        events = list(
            session.execute(
                sa.select(t.audit_events.c.data).where(t.audit_events.c.type == "reviewer_flagged")
            ).scalars()
        )
    assert len(events) == 1 and events[0]["workflow"] == "checked"
    sign_in(client, "admin@example.com", "admin-password-1")
    dashboard = client.get("/ui/dashboard?workflow=checked&range=all")
    assert dashboard.status_code == 200
    assert re.search(r'id="flagged-reviewers"[^>]*>', dashboard.text)
    assert "reviewer@example.com" in dashboard.text
    assert real


def test_a_flagged_reviewers_decisions_stop_counting_until_an_admin_lifts_the_flag(
    client: TestClient, keys: Keys, ctx: Context, db_url: str
) -> None:
    budgeted = GOLD.replace("routing: {threshold: 0.85}", "routing: {error_budget: 0.05}")
    _apply(client, keys, budgeted, "checked")
    _import_gold(
        client, keys, [{"content": {"text": f"Invoice {n}"}, "label": "invoice"} for n in range(6)]
    )
    _submit(client, keys, "checked", [f"Note {n}" for n in range(6)])
    for _ in range(12):
        task = _claim(client, keys.reviewer, "checked")
        decided = _decide(client, keys.reviewer, task["id"], outcome="approved", label="other")
        assert decided.status_code == 200, decided.text

    def evidence() -> tuple[int, int, int]:
        with ctx.sessions() as session:
            workflow_id = session.execute(
                sa.select(t.workflows.c.id).where(t.workflows.c.name == "checked")
            ).scalar_one()
            reviewed = len(items.list_reviewed_confidences(session, workflow_id))
            examples = len(models.list_examples(session, workflow_id))
        report = client.get("/api/v1/workflows/checked/calibration", headers=keys.auth(keys.admin))
        return reviewed, examples, report.json()["reviewed"]

    # Flagged (every gold answer wrong): none of their six real decisions is evidence.
    assert evidence() == (0, 0, 0)
    refused = test_cli.run(
        db_url, "gold", "lift-flag", "nobody@example.com", "--workflow", "checked"
    )
    test_cli.assert_refused(refused, "is not flagged on checked")
    lifted = test_cli.run(
        db_url, "gold", "lift-flag", "Reviewer@example.com", "--workflow", "checked"
    )
    test_cli.assert_ok(lifted)
    assert evidence() == (6, 6, 6)
    with ctx.sessions() as session:
        kinds = list(
            session.execute(
                sa.select(t.audit_events.c.type).where(
                    t.audit_events.c.type.in_(["reviewer_flagged", "reviewer_flag_lifted"])
                )
            ).scalars()
        )
    assert kinds == ["reviewer_flagged", "reviewer_flag_lifted"]


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_imports_gold_from_jsonl_and_refuses_a_bad_line(
    db_url: str, ctx: Context, tmp_path: Path
) -> None:
    workflow = tmp_path / "checked.yaml"
    workflow.write_text(GOLD)
    test_cli.assert_ok(test_cli.run(db_url, "workflows", "apply", str(workflow)))
    good = tmp_path / "gold.jsonl"
    good.write_text(
        "\n".join(
            json.dumps({"content": {"text": f"Invoice {n}"}, "label": "invoice"}) for n in range(3)
        )
        + "\n"
    )
    result = test_cli.run(db_url, "gold", "import", "--workflow", "checked", str(good))
    test_cli.assert_ok(result)
    assert "imported 3 gold items into checked" in test_cli.output(result)
    with ctx.sessions() as session:
        assert (
            session.execute(sa.select(sa.func.count()).select_from(t.gold_items)).scalar_one() == 3
        )
        audited = session.execute(
            sa.select(t.audit_events.c.data).where(t.audit_events.c.type == "gold_imported")
        ).scalar_one()
    assert audited == {"workflow": "checked", "count": 3}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"content": {"text": "x"}, "label": "invoice"}\n{"content": "x", "label": "invoice"}\n'
    )
    test_cli.assert_refused(
        test_cli.run(db_url, "gold", "import", "--workflow", "checked", str(bad)), "items.1.content"
    )
