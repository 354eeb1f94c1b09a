"""Claiming one particular task over REST on SQLite and PostgreSQL: one holder, lapsed holds."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.services import processing
from signoff.services.context import Context
from signoff.storage import tables as t
from tests.conftest import Keys

UNSURE = {"label": "invoice", "confidence": 0.5}


def _tasks_for_review(client: TestClient, keys: Keys, n: int) -> list[int]:
    """Submit `n` unsure items, route them, and return their task ids in queue order."""
    response = client.post(
        "/api/v1/workflows/docs/items/batch",
        json={"items": [{"content": UNSURE} for _ in range(n)]},
        headers=keys.auth(keys.admin),
    )
    assert response.status_code == 201, response.text
    ctx: Context = client.app.state.ctx  # type: ignore[attr-defined]
    processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 500)
    with ctx.sessions() as session:
        return list(
            session.execute(sa.select(t.review_tasks.c.id).order_by(t.review_tasks.c.id)).scalars()
        )


def _take(client: TestClient, token: str, task_id: int) -> Any:
    return client.post(f"/api/v1/tasks/{task_id}/claim", headers=Keys.auth(token))


def _task_row(ctx: Context, task_id: int) -> Any:
    with ctx.sessions() as session:
        return session.execute(
            sa.select(t.review_tasks).where(t.review_tasks.c.id == task_id)
        ).one()


def test_reviewer_takes_a_task_that_is_not_next_in_the_queue_and_decides_it(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    first, second, third = _tasks_for_review(client, keys, 3)
    response = _take(client, keys.reviewer, third)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == third and body["status"] == "assigned"
    assert body["item"]["state"] == "in_review"
    # The queue's next-task claim now returns the task they hold.
    claimed = client.post("/api/v1/reviews/claim", headers=Keys.auth(keys.reviewer)).json()
    assert claimed["id"] == third
    decided = client.post(
        f"/api/v1/tasks/{third}/decision",
        json={"outcome": "approved"},
        headers=Keys.auth(keys.reviewer),
    )
    assert decided.status_code == 200, decided.text
    assert (
        client.get(f"/api/v1/items/{body['item_id']}", headers=Keys.auth(keys.admin)).json()[
            "decision"
        ]["decided_by"]
        == "user:reviewer@example.com"
    )
    assert {_task_row(ctx, i).status for i in (first, second)} == {"open"}


def test_taking_a_task_one_already_holds_answers_it_again(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    [task_id] = _tasks_for_review(client, keys, 1)
    assert _take(client, keys.reviewer, task_id).status_code == 200
    again = _take(client, keys.reviewer, task_id)
    assert again.status_code == 200 and again.json()["id"] == task_id


def test_second_reviewer_gets_409_naming_who_holds_the_task(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    [task_id] = _tasks_for_review(client, keys, 1)
    assert _take(client, keys.reviewer, task_id).status_code == 200
    refused = _take(client, keys.reviewer2, task_id)
    assert refused.status_code == 409
    assert refused.json()["error"] == "task_claimed"
    assert "reviewer@example.com" in refused.json()["detail"]
    assert refused.json()["task_id"] == task_id
    decide = client.post(
        f"/api/v1/tasks/{task_id}/decision",
        json={"outcome": "approved"},
        headers=Keys.auth(keys.reviewer2),
    )
    assert decide.status_code == 409
    row = _task_row(ctx, task_id)
    assert row.status == "assigned" and row.outcome is None


def test_two_reviewers_taking_the_same_task_at_once_one_wins_the_other_gets_409(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    task_ids = _tasks_for_review(client, keys, 3)
    for task_id in task_ids:
        start = threading.Barrier(2)
        answers: dict[str, int] = {}

        def take(
            token: str, task_id: int = task_id, start: Any = start, answers: Any = answers
        ) -> None:
            start.wait()
            answers[token] = _take(client, token, task_id).status_code

        threads = [
            threading.Thread(target=take, args=(tok,)) for tok in (keys.reviewer, keys.reviewer2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(answers.values()) == [200, 409], answers
        winner = next(tok for tok, code in answers.items() if code == 200)
        row = _task_row(ctx, task_id)
        with ctx.sessions() as session:
            email = session.execute(
                sa.select(t.users.c.email).where(t.users.c.id == row.assignee_id)
            ).scalar_one()
        assert email == (
            "reviewer@example.com" if winner == keys.reviewer else "reviewer2@example.com"
        )
        with ctx.sessions() as session:
            assigned_events = session.execute(
                sa.select(sa.func.count())
                .select_from(t.audit_events)
                .where(t.audit_events.c.item_id == row.item_id, t.audit_events.c.type == "assigned")
            ).scalar_one()
        assert assigned_events == 1


def test_a_released_task_can_be_taken_by_another_reviewer(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    [task_id] = _tasks_for_review(client, keys, 1)
    assert _take(client, keys.reviewer, task_id).status_code == 200
    assert _take(client, keys.reviewer2, task_id).status_code == 409
    from signoff.services import review, users

    holder = users.principal_for_user(ctx, _task_row(ctx, task_id).assignee_id)
    assert holder is not None
    review.release_task(ctx, holder, task_id)
    taken = _take(client, keys.reviewer2, task_id)
    assert taken.status_code == 200, taken.text
    assert _task_row(ctx, task_id).assignee_id != holder.user_id


def test_a_lapsed_hold_can_be_taken_over_and_the_first_holder_can_no_longer_decide(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    [task_id] = _tasks_for_review(client, keys, 1)
    assert _take(client, keys.reviewer, task_id).status_code == 200
    minutes = ctx.settings.review.claim_minutes
    long_ago = ctx.clock.now() - timedelta(minutes=minutes + 1)
    with ctx.engine.begin() as connection:
        connection.execute(
            sa.update(t.review_tasks)
            .where(t.review_tasks.c.id == task_id)
            .values(hold_expires_at=long_ago)
        )
    taken = _take(client, keys.reviewer2, task_id)
    assert taken.status_code == 200, taken.text
    late = client.post(
        f"/api/v1/tasks/{task_id}/decision",
        json={"outcome": "approved"},
        headers=Keys.auth(keys.reviewer),
    )
    assert late.status_code == 409
    events = client.get(
        f"/api/v1/items/{taken.json()['item_id']}/events", headers=Keys.auth(keys.admin)
    )
    assigned = [e for e in events.json()["events"] if e["type"] == "assigned"]
    assert [e["actor"] for e in assigned] == [
        "user:reviewer@example.com",
        "user:reviewer2@example.com",
    ]
    assert assigned[1]["data"]["lapsed_hold_of"] == "reviewer@example.com"


def test_a_hold_that_has_not_lapsed_cannot_be_taken_over(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    [task_id] = _tasks_for_review(client, keys, 1)
    assert _take(client, keys.reviewer, task_id).status_code == 200
    almost = ctx.clock.now() + timedelta(minutes=1)  # the hold lapses in a minute
    with ctx.engine.begin() as connection:
        connection.execute(
            sa.update(t.review_tasks)
            .where(t.review_tasks.c.id == task_id)
            .values(hold_expires_at=almost)
        )
    assert _take(client, keys.reviewer2, task_id).status_code == 409


def test_claiming_a_decided_missing_or_forbidden_task_is_refused_clearly(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    [task_id] = _tasks_for_review(client, keys, 1)
    assert _take(client, keys.reviewer, task_id).status_code == 200
    client.post(
        f"/api/v1/tasks/{task_id}/decision",
        json={"outcome": "approved"},
        headers=Keys.auth(keys.reviewer),
    )
    decided = _take(client, keys.reviewer2, task_id)
    assert decided.status_code == 409 and decided.json()["error"] == "task_already_decided"
    missing = _take(client, keys.reviewer, 999_999)
    assert missing.status_code == 404 and missing.json()["error"] == "task_not_found"
    auditor = _take(client, keys.auditor, task_id)
    assert auditor.status_code == 403 and auditor.json()["error"] == "forbidden"


def test_the_next_task_claim_offers_a_lapsed_hold_in_due_order(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    first, second = _tasks_for_review(client, keys, 2)
    assert _take(client, keys.reviewer, first).status_code == 200
    nxt = client.post("/api/v1/reviews/claim", headers=Keys.auth(keys.reviewer2)).json()
    assert nxt["id"] == second  # the held one is not offered while the hold lasts
    client.post(
        f"/api/v1/tasks/{second}/decision",
        json={"outcome": "approved"},
        headers=Keys.auth(keys.reviewer2),
    )
    none_left = client.post("/api/v1/reviews/claim", headers=Keys.auth(keys.reviewer2))
    assert none_left.status_code == 204
    long_ago = ctx.clock.now() - timedelta(minutes=ctx.settings.review.claim_minutes + 1)
    with ctx.engine.begin() as connection:
        connection.execute(
            sa.update(t.review_tasks)
            .where(t.review_tasks.c.id == first)
            .values(hold_expires_at=long_ago)
        )
    taken = client.post("/api/v1/reviews/claim", headers=Keys.auth(keys.reviewer2))
    assert taken.status_code == 200 and taken.json()["id"] == first
    events = client.get(
        f"/api/v1/items/{taken.json()['item_id']}/events", headers=Keys.auth(keys.admin)
    )
    assigned = [e for e in events.json()["events"] if e["type"] == "assigned"]
    assert assigned[-1]["data"]["lapsed_hold_of"] == "reviewer@example.com"
    # The first holder's own next claim no longer returns it.
    theirs = client.post("/api/v1/reviews/claim", headers=Keys.auth(keys.reviewer))
    assert theirs.status_code == 204
