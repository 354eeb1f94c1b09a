"""The review API on SQLite and PostgreSQL: claims, concurrent claims, decisions, validation."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.domain.states import Role
from signoff.services import processing, users
from signoff.services.context import Context
from signoff.storage import items, tasks
from signoff.storage import tables as t
from tests.conftest import Keys

UNSURE = {"label": "invoice", "confidence": 0.5}

STRICT_WORKFLOW = """
name: strict
labels: [invoice, contract, receipt, other]
ai: {provider: fake, retries: 0}
routing: {threshold: 0.85}
review: {outcomes: [approved, rejected, escalated], reject_outcomes: [rejected],
         require_comment_on: [rejected]}
"""


def _submit_for_review(
    client: TestClient,
    keys: Keys,
    n: int = 1,
    workflow: str = "docs",
    content: dict[str, Any] | None = None,
) -> list[int]:
    batch = [{"content": content or UNSURE} for _ in range(n)]
    response = client.post(
        f"/api/v1/workflows/{workflow}/items/batch",
        json={"items": batch},
        headers=keys.auth(keys.admin),
    )
    assert response.status_code == 201, response.text
    ctx: Context = client.app.state.ctx  # type: ignore[attr-defined]
    processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 500)
    return [r["id"] for r in response.json()["items"]]


def _claim(client: TestClient, token: str) -> Any:
    return client.post("/api/v1/reviews/claim", headers=Keys.auth(token))


def _decide(client: TestClient, token: str, task_id: int, **body: Any) -> Any:
    return client.post(f"/api/v1/tasks/{task_id}/decision", json=body, headers=Keys.auth(token))


def _item(ctx: Context, item_id: int) -> Any:
    with ctx.sessions() as session:
        return items.read_item(session, item_id)


def test_reviewer_claim_answers_the_task_with_its_item(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    [item_id] = _submit_for_review(client, keys)
    response = _claim(client, keys.reviewer)
    assert response.status_code == 200, response.text
    task = response.json()
    assert task["item_id"] == item_id
    assert task["status"] == "assigned"
    assert task["assignee_id"] is not None
    assert task["item"]["id"] == item_id
    assert task["item"]["state"] == "in_review"
    assert task["item"]["prediction"]["label"] == "invoice"
    assert task["item"]["route"]["reasons"] == ["confidence 0.50 < 0.85"]


def test_claiming_again_returns_the_same_assigned_task(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    _submit_for_review(client, keys, n=2)
    first = _claim(client, keys.reviewer).json()
    again = _claim(client, keys.reviewer).json()
    other = _claim(client, keys.reviewer2).json()
    assert again["id"] == first["id"]
    assert other["id"] != first["id"]


def test_claim_answers_204_when_nothing_is_waiting(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    response = _claim(client, keys.reviewer)
    assert response.status_code == 204
    assert response.content == b""


def test_claim_answers_204_once_every_task_is_taken(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    _submit_for_review(client, keys)
    assert _claim(client, keys.reviewer).status_code == 200
    assert _claim(client, keys.reviewer2).status_code == 204


def _add_reviewers(ctx: Context, n: int) -> list[str]:
    tokens = []
    for i in range(n):
        email = f"crowd{i}@example.com"
        users.add_user(ctx, email, Role.REVIEWER)
        tokens.append(users.create_key(ctx, email, email)[1])
    return tokens


@pytest.mark.parametrize("reviewers", [2, 4])
def test_concurrent_reviewers_claiming_in_loops_never_get_the_same_task(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context, reviewers: int
) -> None:
    item_ids = _submit_for_review(client, keys, n=20)
    tokens = _add_reviewers(ctx, reviewers)
    claimed: dict[int, list[int]] = {i: [] for i in range(reviewers)}
    failures: list[str] = []
    start = threading.Barrier(reviewers)

    def work(index: int) -> None:
        start.wait()
        for _ in range(40):
            response = _claim(client, tokens[index])
            if response.status_code == 204:
                return
            if response.status_code != 200:
                failures.append(f"claim {response.status_code} {response.text}")
                return
            task_id = response.json()["id"]
            claimed[index].append(task_id)
            decided = _decide(client, tokens[index], task_id, outcome="approved")
            if decided.status_code != 200:
                failures.append(f"decide {task_id}: {decided.status_code} {decided.text}")
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(reviewers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    all_claims = [task_id for ids in claimed.values() for task_id in ids]
    assert len(all_claims) == 20
    assert Counter(all_claims).most_common(1)[0][1] == 1
    with ctx.sessions() as session:
        rows = list(session.execute(sa.select(t.review_tasks)))
        states = {items.read_item(session, i).state for i in item_ids}
    assert {r.status for r in rows} == {"decided"}
    assert {r.id for r in rows} == set(all_claims)
    assert states == {"approved"}


def test_reviewers_claiming_at_the_same_instant_each_get_a_different_task(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    _submit_for_review(client, keys, n=6)
    tokens = _add_reviewers(ctx, 4)
    got: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(len(tokens))

    def claim_once(token: str) -> None:
        start.wait()
        response = _claim(client, token)
        with lock:
            got.append(response.json()["id"] if response.status_code == 200 else -1)

    threads = [threading.Thread(target=claim_once, args=(tok,)) for tok in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(got) == 4
    assert -1 not in got
    assert len(set(got)) == 4
    with ctx.sessions() as session:
        assignees = [
            r.assignee_id
            for r in session.execute(
                sa.select(t.review_tasks).where(t.review_tasks.c.status == "assigned")
            )
        ]
    assert len(assignees) == len(set(assignees)) == 4


def test_approving_with_the_ai_label_decides_the_item_without_override(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    [item_id] = _submit_for_review(client, keys)
    task = _claim(client, keys.reviewer).json()
    response = _decide(
        client,
        keys.reviewer,
        task["id"],
        outcome="approved",
        comment="looks right",
        time_on_task_ms=1200,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "decided"
    assert response.json()["outcome"] == "approved"
    row = _item(ctx, item_id)
    assert row.state == "approved"
    assert row.decided_by == "user:reviewer@example.com"
    assert (row.outcome, row.final_label, row.override, row.comment) == (
        "approved",
        "invoice",
        False,
        "looks right",
    )
    body = client.get(f"/api/v1/items/{item_id}", headers=keys.auth(keys.auditor)).json()
    assert body["decision"]["decided_by"] == "user:reviewer@example.com"
    assert body["decision"]["override"] is False
    with ctx.sessions() as session:
        [task_row] = tasks.list_tasks_for_item(session, item_id)
    assert (task_row.status, task_row.time_on_task_ms, task_row.labels) == (
        "decided",
        1200,
        ["invoice"],
    )


def test_approving_with_a_different_label_records_an_override(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    [item_id] = _submit_for_review(client, keys)
    task = _claim(client, keys.reviewer).json()
    response = _decide(client, keys.reviewer, task["id"], outcome="approved", label="receipt")
    assert response.status_code == 200, response.text
    row = _item(ctx, item_id)
    assert (row.state, row.final_label, row.ai_label, row.override) == (
        "approved",
        "receipt",
        "invoice",
        True,
    )
    events = client.get(f"/api/v1/items/{item_id}/events", headers=keys.auth(keys.admin)).json()
    decided = [e for e in events["events"] if e["type"] == "decided"]
    assert len(decided) == 1
    assert decided[0]["data"]["override"] is True
    assert decided[0]["data"]["label"] == "receipt"
    assert decided[0]["data"]["ai_label"] == "invoice"


def test_labels_list_works_like_label(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    [item_id] = _submit_for_review(client, keys)
    task = _claim(client, keys.reviewer).json()
    response = _decide(client, keys.reviewer, task["id"], outcome="approved", labels=["other"])
    assert response.status_code == 200, response.text
    assert _item(ctx, item_id).final_label == "other"


def test_rejecting_decides_the_item_rejected_and_records_an_override(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    [item_id] = _submit_for_review(client, keys)
    task = _claim(client, keys.reviewer).json()
    response = _decide(client, keys.reviewer, task["id"], outcome="rejected")
    assert response.status_code == 200, response.text
    row = _item(ctx, item_id)
    assert (row.state, row.outcome, row.override) == ("rejected", "rejected", True)
    assert row.decided_by == "user:reviewer@example.com"


def test_second_decision_on_a_task_answers_409_and_keeps_the_first(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    [item_id] = _submit_for_review(client, keys)
    task = _claim(client, keys.reviewer).json()
    assert _decide(client, keys.reviewer, task["id"], outcome="approved").status_code == 200
    again = _decide(client, keys.reviewer, task["id"], outcome="rejected")
    assert again.status_code == 409, again.text
    assert again.json()["error"] == "task_already_decided"
    assert again.json()["task_id"] == task["id"]
    by_admin = _decide(client, keys.admin, task["id"], outcome="rejected")
    assert by_admin.status_code == 409
    assert _item(ctx, item_id).state == "approved"
    events = client.get(f"/api/v1/items/{item_id}/events", headers=keys.auth(keys.admin)).json()
    assert [e["type"] for e in events["events"]].count("decided") == 1


def test_deciding_a_task_assigned_to_someone_else_answers_409(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    [item_id] = _submit_for_review(client, keys)
    task = _claim(client, keys.reviewer).json()
    response = _decide(client, keys.reviewer2, task["id"], outcome="approved")
    assert response.status_code == 409
    assert response.json()["error"] == "task_not_assigned"
    assert _item(ctx, item_id).state == "in_review"


def test_decision_on_a_missing_task_answers_404(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    response = _decide(client, keys.reviewer, 424242, outcome="approved")
    assert response.status_code == 404
    assert response.json()["error"] == "task_not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outcome": "maybe"}, "outcome"),
        ({"outcome": ""}, "outcome"),
        ({}, "outcome"),
        ({"outcome": "approved", "labels": ["legal"]}, "labels"),
        ({"outcome": "approved", "labels": ["invoice", "other"]}, "labels"),
        ({"outcome": "approved", "entities": [{"type": "iban", "text": "x"}]}, "entities"),
        ({"outcome": "approved", "entities": [{"text": "x"}]}, "entities"),
        ({"outcome": "approved", "time_on_task_ms": -5}, "time_on_task_ms"),
        ({"outcome": "approved", "verdict": "yes"}, "verdict"),
    ],
)
def test_invalid_decision_answers_422_naming_the_field_and_leaves_the_task_open(
    client: TestClient,
    keys: Keys,
    docs_workflow: str,
    ctx: Context,
    body: dict[str, Any],
    field: str,
) -> None:
    [item_id] = _submit_for_review(client, keys)
    task = _claim(client, keys.reviewer).json()
    response = _decide(client, keys.reviewer, task["id"], **body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert field in response.json()["detail"]
    assert _item(ctx, item_id).state == "in_review"
    assert _decide(client, keys.reviewer, task["id"], outcome="approved").status_code == 200


def test_invalid_label_given_as_label_answers_422(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    [item_id] = _submit_for_review(client, keys)
    task = _claim(client, keys.reviewer).json()
    response = _decide(client, keys.reviewer, task["id"], outcome="approved", label="legal")
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert response.json()["field"] in ("label", "labels")
    assert "invoice" in response.json()["detail"]
    row = _item(ctx, item_id)
    assert (row.state, row.final_label) == ("in_review", None)


def test_rejection_without_a_comment_is_refused_where_the_workflow_requires_one(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    applied = client.put(
        "/api/v1/workflows/strict", content=STRICT_WORKFLOW, headers=keys.auth(keys.admin)
    )
    assert applied.status_code == 201, applied.text
    [item_id] = _submit_for_review(client, keys, workflow="strict")
    task = _claim(client, keys.reviewer).json()
    for comment in (None, "", "   "):
        body: dict[str, Any] = {"outcome": "rejected"}
        if comment is not None:
            body["comment"] = comment
        refused = _decide(client, keys.reviewer, task["id"], **body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "comment"
        assert "comment" in refused.json()["detail"]
        assert _item(ctx, item_id).state == "in_review"
    accepted = _decide(client, keys.reviewer, task["id"], outcome="rejected", comment="not ours")
    assert accepted.status_code == 200, accepted.text
    row = _item(ctx, item_id)
    assert (row.state, row.comment) == ("rejected", "not ours")


def test_approval_needs_no_comment_where_only_rejections_require_one(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    client.put("/api/v1/workflows/strict", content=STRICT_WORKFLOW, headers=keys.auth(keys.admin))
    [item_id] = _submit_for_review(client, keys, workflow="strict")
    task = _claim(client, keys.reviewer).json()
    escalated = _decide(client, keys.reviewer, task["id"], outcome="escalated")
    assert escalated.status_code == 200, escalated.text
    row = _item(ctx, item_id)
    assert (row.state, row.outcome) == ("approved", "escalated")
