"""M-of-N consensus through the REST API, on SQLite and PostgreSQL: two reviewers vote;
agreement decides the item once (one decision, one webhook, one training label); a
disagreement escalates to a tie-break; nobody takes two tasks of one item, even when
many reviewers claim at once."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.clock import FrozenClock
from signoff.domain import errors
from signoff.domain.states import Role
from signoff.services import groups, intake, processing, review, timers, users
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.storage import audit, items, tasks
from signoff.storage import tables as t
from tests.conftest import Keys, make_settings
from tests.integration.test_ui_security import sign_in

UNSURE = {"label": "invoice", "confidence": 0.5}


def _panel(reviewers: int = 2, agreement: str = "unanimous", extra: str = "") -> str:
    return f"""
name: panel
labels: [invoice, contract, receipt, other]
ai: {{provider: fake, retries: 0}}
routing: {{threshold: 0.85}}
review:
  outcomes: [approved, rejected]
  consensus: {{reviewers: {reviewers}, agreement: {agreement}{extra}}}
delivery: {{webhook_url: "http://127.0.0.1:9/hook"}}
"""


def _apply(client: TestClient, keys: Keys, text: str) -> None:
    response = client.put("/api/v1/workflows/panel", content=text, headers=keys.auth(keys.admin))
    assert response.status_code in (200, 201), response.text


def _submit(client: TestClient, keys: Keys, n: int = 1) -> list[int]:
    response = client.post(
        "/api/v1/workflows/panel/items/batch",
        json={"items": [{"content": UNSURE} for _ in range(n)]},
        headers=keys.auth(keys.admin),
    )
    assert response.status_code == 201, response.text
    ctx: Context = client.app.state.ctx  # type: ignore[attr-defined]
    processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 500)
    return [r["id"] for r in response.json()["items"]]


def _claim(client: TestClient, token: str) -> Any:
    return client.post("/api/v1/reviews/claim", headers=Keys.auth(token))


def _vote(
    client: TestClient, token: str, task_id: int, label: str, outcome: str = "approved"
) -> Any:
    return client.post(
        f"/api/v1/tasks/{task_id}/decision",
        json={"outcome": outcome, "label": label},
        headers=Keys.auth(token),
    )


def _events(ctx: Context, item_id: int) -> list[str]:
    with ctx.sessions() as session:
        return [e.type for e in audit.list_item_events(session, item_id)]


def _webhooks(ctx: Context, item_id: int) -> int:
    with ctx.sessions() as session:
        return int(
            session.execute(
                sa.select(sa.func.count())
                .select_from(t.outbox)
                .where(t.outbox.c.item_id == item_id, t.outbox.c.kind == "webhook")
            ).scalar_one()
        )


def _examples(ctx: Context, item_id: int) -> list[str]:
    with ctx.sessions() as session:
        return list(
            session.execute(
                sa.select(t.labelled_examples.c.label).where(
                    t.labelled_examples.c.item_id == item_id
                )
            ).scalars()
        )


def test_two_reviewers_who_agree_decide_the_item_once(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, _panel())
    [item_id] = _submit(client, keys)
    with ctx.sessions() as session:
        rows = tasks.list_tasks_for_item(session, item_id)
    assert [r.kind for r in rows] == ["vote", "vote"]

    first = _claim(client, keys.reviewer).json()
    assert (first["item_id"], first["kind"]) == (item_id, "vote")
    assert _vote(client, keys.reviewer, first["id"], "receipt").status_code == 200
    with ctx.sessions() as session:
        assert items.read_item(session, item_id).state == "in_review"
    assert _webhooks(ctx, item_id) == 0

    # The first reviewer is offered nothing more of this item.
    assert _claim(client, keys.reviewer).status_code == 204
    second = _claim(client, keys.reviewer2).json()
    assert second["item_id"] == item_id and second["id"] != first["id"]
    assert _vote(client, keys.reviewer2, second["id"], "receipt").status_code == 200

    with ctx.sessions() as session:
        item = items.read_item(session, item_id)
    assert (item.state, item.final_label, item.override) == ("approved", "receipt", True)
    assert item.decided_by == "user:reviewer2@example.com"
    assert _webhooks(ctx, item_id) == 1
    assert _examples(ctx, item_id) == ["receipt"]
    trail = _events(ctx, item_id)
    assert trail.count("consensus_vote") == 2
    assert trail.count("decided") == 1
    assert "consensus_escalated" not in trail


def test_a_disagreement_escalates_to_a_tiebreak_that_decides(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, _panel())
    [item_id] = _submit(client, keys)
    a = _claim(client, keys.reviewer).json()
    assert _vote(client, keys.reviewer, a["id"], "invoice").status_code == 200
    b = _claim(client, keys.reviewer2).json()
    assert _vote(client, keys.reviewer2, b["id"], "other", "rejected").status_code == 200

    with ctx.sessions() as session:
        item = items.read_item(session, item_id)
        rows = tasks.list_tasks_for_item(session, item_id)
        [escalated] = [
            e for e in audit.list_item_events(session, item_id) if e.type == "consensus_escalated"
        ]
    assert item.state == "in_review"
    assert [(r.kind, r.status) for r in rows] == [
        ("vote", "decided"),
        ("vote", "decided"),
        ("tiebreak", "open"),
    ]
    assert escalated.data["votes"] == [
        {"outcome": "approved", "labels": ["invoice"]},
        {"outcome": "rejected", "labels": ["other"]},
    ]
    assert _webhooks(ctx, item_id) == 0
    # Neither voter may take the tie-break: a third person settles it.
    assert _claim(client, keys.reviewer).status_code == 204
    refused = client.post(f"/api/v1/tasks/{rows[2].id}/claim", headers=keys.auth(keys.reviewer2))
    assert refused.status_code == 409
    assert refused.json()["error"] == "item_already_reviewed"
    tiebreak = _claim(client, keys.admin).json()
    assert tiebreak["id"] == rows[2].id
    assert _vote(client, keys.admin, tiebreak["id"], "other", "rejected").status_code == 200

    with ctx.sessions() as session:
        item = items.read_item(session, item_id)
    assert (item.state, item.final_label) == ("rejected", "other")
    assert _webhooks(ctx, item_id) == 1
    assert _examples(ctx, item_id) == ["other"]
    assert _events(ctx, item_id).count("decided") == 1


def test_tiebreak_goes_to_the_escalation_group(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    groups.add_members(ctx, "leads", ["admin@example.com"])
    _apply(client, keys, _panel(extra=", escalate_to: leads"))
    [item_id] = _submit(client, keys)
    a = _claim(client, keys.reviewer).json()
    _vote(client, keys.reviewer, a["id"], "invoice")
    b = _claim(client, keys.reviewer2).json()
    _vote(client, keys.reviewer2, b["id"], "receipt")
    with ctx.sessions() as session:
        rows = tasks.list_tasks_for_item(session, item_id)
    assert (rows[-1].kind, rows[-1].group_name) == ("tiebreak", "leads")


def test_majority_of_three_decides_on_the_second_agreeing_vote(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    users.add_user(ctx, "reviewer3@example.com", Role.REVIEWER)
    _apply(client, keys, _panel(reviewers=3, agreement="majority"))
    [item_id] = _submit(client, keys)
    a = _claim(client, keys.reviewer).json()
    _vote(client, keys.reviewer, a["id"], "invoice")
    b = _claim(client, keys.reviewer2).json()
    _vote(client, keys.reviewer2, b["id"], "invoice")
    with ctx.sessions() as session:
        item = items.read_item(session, item_id)
        statuses = [r.status for r in tasks.list_tasks_for_item(session, item_id)]
    assert (item.state, item.final_label, item.override) == ("approved", "invoice", False)
    assert statuses == ["decided", "decided", "cancelled"]
    assert _webhooks(ctx, item_id) == 1


def test_an_admin_cannot_assign_a_second_task_of_an_item_to_one_reviewer(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, _panel())
    [item_id] = _submit(client, keys)
    with ctx.sessions() as session:
        first, second = tasks.list_tasks_for_item(session, item_id)
    ok = client.post(
        f"/api/v1/tasks/{first.id}/assign",
        json={"assignee": "reviewer@example.com"},
        headers=keys.auth(keys.admin),
    )
    assert ok.status_code == 200, ok.text
    refused = client.post(
        f"/api/v1/tasks/{second.id}/assign",
        json={"assignee": "reviewer@example.com"},
        headers=keys.auth(keys.admin),
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "assignee"


def test_consensus_spec_is_bounded(client: TestClient, keys: Keys) -> None:
    for bad, field in [
        ("reviewers: 1", "review.consensus.reviewers"),
        ("reviewers: 6", "review.consensus.reviewers"),
        ("sample_rate: 1.5", "review.consensus.sample_rate"),
        ("sample_rate: .nan", "review.consensus.sample_rate"),
        ("agreement: most", "review.consensus.agreement"),
        ("quorum: 2", "review.consensus.quorum"),
    ]:
        text = _panel().replace("reviewers: 2, agreement: unanimous", bad)
        response = client.put(
            "/api/v1/workflows/panel", content=text, headers=keys.auth(keys.admin)
        )
        assert response.status_code == 422, (bad, response.text)
        assert field in response.text, (bad, response.text)


CLAIMERS = 8
ITEMS = 12


def test_concurrent_claimers_never_get_two_tasks_of_one_item(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, _panel(reviewers=3, agreement="majority"))
    item_ids = _submit(client, keys, ITEMS)
    principals = []
    for i in range(CLAIMERS):
        email = f"c{i}@example.com"
        user_id = users.add_user(ctx, email, Role.REVIEWER)
        principals.append(users.Principal(user_id, email, Role.REVIEWER))
    start = threading.Barrier(2 * CLAIMERS)
    failures: list[BaseException] = []

    def claimer(principal: users.Principal) -> None:
        # Each reviewer claims from two threads at once (two tabs), releasing as it goes,
        # so the same person races for tasks of one item.
        try:
            start.wait()
            for _ in range(ITEMS):
                task = review.claim_next_task(ctx, principal)
                if task is None:
                    return
                # The other tab may have got (and released) this very task.
                with contextlib.suppress(errors.TaskNotAssigned):
                    review.release_task(ctx, principal, task.id)
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    threads = [threading.Thread(target=claimer, args=(p,)) for p in principals for _ in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    # Now everyone claims and votes until nothing is left.
    for principal in principals:
        while (task := review.claim_next_task(ctx, principal)) is not None:
            review.decide(ctx, principal, task.id, review.DecisionInput("approved", "invoice"))
    with ctx.sessions() as session:
        rows = list(
            session.execute(
                sa.select(t.review_tasks.c.item_id, t.review_tasks.c.assignee_id).where(
                    t.review_tasks.c.assignee_id.is_not(None)
                )
            )
        )
        states = Counter(items.read_item(session, i).state for i in item_ids)
    pairs = Counter((r.item_id, r.assignee_id) for r in rows)
    assert max(pairs.values()) == 1
    assert states == {"approved": ITEMS}


@pytest.mark.parametrize("rate", [0.0, 0.5])
def test_sampled_consensus_gives_the_rest_one_task(
    client: TestClient, keys: Keys, ctx: Context, rate: float
) -> None:
    _apply(client, keys, _panel(extra=f", sample_rate: {rate}"))
    item_ids = _submit(client, keys, 40)
    with ctx.sessions() as session:
        counts = Counter(r.item_id for r in session.execute(sa.select(t.review_tasks.c.item_id)))
    assert set(counts) == set(item_ids)
    panels = sum(1 for n in counts.values() if n == 2)
    if rate == 0.0:
        assert panels == 0
    else:
        assert 8 <= panels <= 32


def test_one_reviewer_taking_two_tasks_of_an_item_at_once_gets_one(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, _panel())
    item_ids = _submit(client, keys, 6)
    user_id = users.add_user(ctx, "twotabs@example.com", Role.REVIEWER)
    principal = users.Principal(user_id, "twotabs@example.com", Role.REVIEWER)
    for item_id in item_ids:
        with ctx.sessions() as session:
            pair = [r.id for r in tasks.list_tasks_for_item(session, item_id)]
        start = threading.Barrier(2)
        outcomes: list[str] = []

        def take(task_id: int, start: threading.Barrier, outcomes: list[str]) -> None:
            start.wait()
            try:
                review.claim_task(ctx, principal, task_id)
                outcomes.append("taken")
            except errors.ItemAlreadyReviewed:
                outcomes.append("refused")

        threads = [
            threading.Thread(target=take, args=(task_id, start, outcomes)) for task_id in pair
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["refused", "taken"], item_id
        review.release_task(ctx, principal, next(iter(_held(ctx, user_id))))


def _held(ctx: Context, user_id: int) -> list[int]:
    with ctx.sessions() as session:
        return list(
            session.execute(
                sa.select(t.review_tasks.c.id).where(
                    t.review_tasks.c.assignee_id == user_id,
                    t.review_tasks.c.status == "assigned",
                )
            ).scalars()
        )


def test_agreement_figures_on_the_summary_api_and_the_dashboard(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, _panel())
    _submit(client, keys, 4)
    # Pairs (A, B): invoice/invoice twice, receipt/receipt, invoice/receipt.
    # Cohen: p_o 3/4, p_e (3*2 + 1*2)/16 = 1/2 -> 0.5.
    # Fleiss: P-bar 3/4, p_e (5/8)^2 + (3/8)^2 = 17/32 -> (3/4 - 17/32) / (15/32) = 7/15.
    for a_label, b_label in [
        ("invoice", "invoice"),
        ("invoice", "invoice"),
        ("receipt", "receipt"),
        ("invoice", "receipt"),
    ]:
        a = _claim(client, keys.reviewer).json()
        assert _vote(client, keys.reviewer, a["id"], a_label).status_code == 200
        b = _claim(client, keys.reviewer2).json()
        assert b["item_id"] == a["item_id"]
        assert _vote(client, keys.reviewer2, b["id"], b_label).status_code == 200
    response = client.get(
        "/api/v1/metrics/summary", params={"since": "all"}, headers=keys.auth(keys.admin)
    )
    assert response.status_code == 200, response.text
    figures = response.json()["agreement"]
    assert figures["workflows"] == [
        {"workflow": "panel", "items": 4, "fleiss_kappa": round(7 / 15, 4)}
    ]
    assert figures["pairs"] == [
        {
            "workflow": "panel",
            "reviewers": ["reviewer@example.com", "reviewer2@example.com"],
            "items": 4,
            "cohen_kappa": 0.5,
        }
    ]
    sign_in(client, "admin@example.com", "admin-password-1")
    html = client.get("/ui/dashboard", params={"range": "all"}).text
    assert 'id="agreement"' in html
    assert (
        '<tr data-workflow="panel"><td>panel</td><td class="num">4</td>'
        '<td class="num">0.47</td></tr>'
    ) in html
    assert "reviewer@example.com · reviewer2@example.com" in html


def test_the_item_page_offers_a_voter_no_second_task_of_the_item(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, _panel())
    [item_id] = _submit(client, keys)
    first = _claim(client, keys.reviewer).json()
    assert _vote(client, keys.reviewer, first["id"], "invoice").status_code == 200
    sign_in(client, "reviewer@example.com", "reviewer-password-1")
    page = client.get(f"/ui/items/{item_id}").text
    assert 'data-task-status="open"' in page
    assert 'id="take-task"' not in page
    assert "Voted (consensus)" in page
    sign_in(client, "reviewer2@example.com", "reviewer-password-2")
    assert 'id="take-task"' in client.get(f"/ui/items/{item_id}").text


def test_an_sla_timeout_decides_a_consensus_item_once_and_closes_its_other_votes(
    db_url: str,
) -> None:
    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    tctx = create_context(make_settings(db_url), clock=clock)
    try:
        workflow_service.apply_workflow(
            tctx,
            _panel().replace(
                "  outcomes: [approved, rejected]\n",
                "  outcomes: [approved, rejected]\n"
                "  sla: {on_timeout: {after: 24h, outcome: rejected}}\n",
            ),
            "test",
        )
        item_id = intake.submit_item(tctx, "panel", intake.NewItem(content=UNSURE), "t").item_id
        processing.process_batch(tctx, "w1", processing.ProviderCache(tctx), 10)
        clock.advance(hours=24, minutes=1)
        timers.sweep(tctx)
        with tctx.sessions() as session:
            item = items.read_item(session, item_id)
            statuses = sorted(r.status for r in tasks.list_tasks_for_item(session, item_id))
        assert item.state == "rejected"
        assert statuses == ["cancelled", "decided"]
        assert _events(tctx, item_id).count("decided") == 1
        assert _webhooks(tctx, item_id) == 1
    finally:
        tctx.close()


def test_one_reviewer_cannot_decide_both_open_votes_of_an_item_directly(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    _apply(client, keys, _panel())
    [item_id] = _submit(client, keys)
    with ctx.sessions() as session:
        first, second = tasks.list_tasks_for_item(session, item_id)
    assert _vote(client, keys.admin, first.id, "invoice").status_code == 200
    refused = _vote(client, keys.admin, second.id, "invoice")
    assert refused.status_code == 409
    assert refused.json()["error"] == "item_already_reviewed"
    with ctx.sessions() as session:
        assert items.read_item(session, item_id).state == "in_review"


@pytest.mark.parametrize("strategy", ["round_robin", "least_loaded"])
def test_assignment_strategies_give_an_items_votes_to_distinct_members(
    client: TestClient, keys: Keys, ctx: Context, strategy: str
) -> None:
    groups.add_members(ctx, "clerks", ["reviewer@example.com", "reviewer2@example.com"])
    groups.add_members(ctx, "solo", ["reviewer@example.com"])
    text = _panel().replace(
        "  outcomes: [approved, rejected]\n",
        f"  outcomes: [approved, rejected]\n  assignment: {{strategy: {strategy}, group: clerks}}\n",
    )
    _apply(client, keys, text)
    item_ids = _submit(client, keys, 3)
    with ctx.sessions() as session:
        for item_id in item_ids:
            rows = tasks.list_tasks_for_item(session, item_id)
            assert [r.status for r in rows] == ["assigned", "assigned"]
            assert len({r.assignee_id for r in rows}) == 2
    # A group of one: the second vote of each item waits in the pool.
    _apply(client, keys, text.replace("group: clerks", "group: solo"))
    item_ids = _submit(client, keys, 2)
    with ctx.sessions() as session:
        for item_id in item_ids:
            rows = tasks.list_tasks_for_item(session, item_id)
            assert sorted(r.status for r in rows) == ["assigned", "open"]


def test_each_vote_sends_task_decided_and_the_decision_item_decided_once(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    text = (
        _panel()
        + "notify:\n  - {channel: webhook, url: 'http://127.0.0.1:9/events', "
        + "on: [task.decided, item.decided]}\n"
    )
    _apply(client, keys, text)
    [item_id] = _submit(client, keys)
    a = _claim(client, keys.reviewer).json()
    _vote(client, keys.reviewer, a["id"], "invoice")
    b = _claim(client, keys.reviewer2).json()
    _vote(client, keys.reviewer2, b["id"], "invoice")
    with ctx.sessions() as session:
        sent = [
            r.payload["type"]
            for r in session.execute(
                sa.select(t.outbox.c.payload)
                .where(t.outbox.c.item_id == item_id, t.outbox.c.kind == "notify.webhook")
                .order_by(t.outbox.c.id)
            )
        ]
    assert sent == ["task.decided", "task.decided", "item.decided"]
