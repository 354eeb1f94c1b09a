"""Notify rules as outbox messages, on SQLite and PostgreSQL: recipients, payloads, links, digests."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from signoff.clock import FrozenClock
from signoff.domain.review_ops import NotifyEvent
from signoff.services import digests, users
from signoff.services.context import Context
from tests.conftest import Keys
from tests.integration import notify_support
from tests.integration.notify_support import (
    UNSURE,
    _links,
    _outbox,
    _submit,
    _task_of,
    _user_id,
    fire,
)

# The shared fixtures, registered in this module.
clock = notify_support.clock
nctx = notify_support.nctx
nclient = notify_support.nclient
nkeys = notify_support.nkeys


def test_assigned_task_emails_its_assignee_with_links_only_they_can_use(
    nctx: Context, nclient: TestClient, nkeys: Keys
) -> None:
    item_id = _submit(nclient, nkeys)
    task_id = _task_of(nctx, item_id).id
    claimed = nclient.post(f"/api/v1/tasks/{task_id}/claim", headers=nkeys.auth(nkeys.reviewer))
    assert claimed.status_code == 200, claimed.text  # the claim is the assignment
    [row] = _outbox(nctx)
    assert (row.kind, row.target, row.item_id) == ("notify.email", "reviewer@example.com", item_id)
    payload = row.payload
    assert payload["type"] == "task.assigned" and payload["workflow"] == "inv"
    assert payload["occurred_at"] == "2026-12-02T09:00:00+00:00"
    assert payload["task"]["id"] == task_id and payload["task"]["status"] == "assigned"
    assert payload["task"]["assignee"] == "reviewer@example.com"
    assert payload["item"] == {
        "id": item_id,
        "external_id": None,
        "summary": UNSURE["text"],
        "label": "invoice",
        "confidence": 0.5,
        "state": "in_review",
        "outcome": None,
    }
    assert payload["url"] == f"https://signoff.example/ui/items/{item_id}"
    assert payload["data"] == {"claimed": True, "rule": 0}
    assert sorted(payload["actions"]) == ["approved", "rejected"]
    assert payload["actions"]["approved"].startswith("https://signoff.example/ui/links/")
    assert payload["actions"]["approved"].endswith("?outcome=approved")
    [link] = _links(nctx)
    assert link.user_id == _user_id(nctx, "reviewer@example.com") and link.channel == "email"
    assert link.task_id == task_id and link.used_at is None


def test_an_unassigned_task_sends_no_assignee_email(
    nctx: Context, nclient: TestClient, nkeys: Keys
) -> None:
    item_id = _submit(nclient, nkeys)
    assert fire(nctx, NotifyEvent.TASK_ASSIGNED, _task_of(nctx, item_id)) == []
    assert _outbox(nctx) == [] and _links(nctx) == []


def test_escalation_reaches_the_lead_group_slack_and_pagerduty(
    nctx: Context, nclient: TestClient, nkeys: Keys
) -> None:
    item_id = _submit(nclient, nkeys)
    task = _task_of(nctx, item_id)
    fire(nctx, NotifyEvent.TASK_ESCALATED, task)
    rows = _outbox(nctx)
    emails = sorted(r.target for r in rows if r.kind == "notify.email")
    assert emails == ["admin@example.com", "reviewer2@example.com"]
    [slack] = [r for r in rows if r.kind == "notify.slack"]
    [pager] = [r for r in rows if r.kind == "notify.pagerduty"]
    # Credential names, never the secrets: the channels resolve them at send time.
    assert slack.target == "SIGNOFF_CREDENTIAL_SLACK" and pager.target == "SIGNOFF_CREDENTIAL_PD"
    assert slack.payload["data"]["rule"] == 2 and pager.payload["data"]["rule"] == 3
    assert sorted(slack.payload["actions"]) == ["approved", "rejected"]
    assert pager.payload["actions"] == {}
    by_user = {link.user_id for link in _links(nctx)}
    # One link per lead (bound to them), one for Slack bound to nobody (sign-in needed).
    assert by_user == {
        _user_id(nctx, "admin@example.com"),
        _user_id(nctx, "reviewer2@example.com"),
        None,
    }


def test_a_review_decision_notifies_the_decided_rules_with_its_outcome(
    nctx: Context, nclient: TestClient, nkeys: Keys
) -> None:
    item_id = _submit(nclient, nkeys)
    task_id = _task_of(nctx, item_id).id
    nclient.post(f"/api/v1/tasks/{task_id}/claim", headers=nkeys.auth(nkeys.reviewer))
    decided = nclient.post(
        f"/api/v1/tasks/{task_id}/decision",
        json={"outcome": "rejected"},
        headers=nkeys.auth(nkeys.reviewer),
    )
    assert decided.status_code == 200, decided.text
    rows = {r.kind: r for r in _outbox(nctx) if r.payload["type"] != "task.assigned"}
    assert set(rows) == {"notify.email", "notify.pagerduty", "notify.webhook"}
    assert rows["notify.email"].target == "reviewer@example.com"
    assert rows["notify.email"].payload["type"] == "task.decided"
    assert rows["notify.email"].payload["actions"] == {}  # nothing left to decide
    assert rows["notify.pagerduty"].payload["task"]["id"] == task_id
    assert rows["notify.pagerduty"].payload["task"]["status"] == "decided"
    hook = rows["notify.webhook"]
    assert hook.target == "http://127.0.0.1:9/events"
    assert hook.payload["type"] == "item.decided"
    assert hook.payload["item"]["outcome"] == "rejected"
    assert hook.payload["item"]["state"] == "rejected"
    assert len(_links(nctx)) == 1  # the assignment email's, none for the decision


def test_an_automatic_decision_notifies_item_decided(
    nctx: Context, nclient: TestClient, nkeys: Keys
) -> None:
    item_id = _submit(nclient, nkeys, {"text": "Receipt", "label": "invoice", "confidence": 0.97})
    [hook] = _outbox(nctx)
    assert (hook.kind, hook.item_id) == ("notify.webhook", item_id)
    assert hook.payload["task"] is None
    assert hook.payload["item"]["outcome"] == "approved"
    assert hook.payload["item"]["state"] == "approved"


def test_a_digest_reader_gets_one_email_per_period_with_every_event(
    nctx: Context, nclient: TestClient, nkeys: Keys, clock: FrozenClock
) -> None:
    reviewer = users.principal_for_user(nctx, _user_id(nctx, "reviewer@example.com"))
    assert reviewer is not None
    digests.set_digest_minutes(nctx, reviewer, 30)
    for _ in range(2):
        item_id = _submit(nclient, nkeys)
        task_id = _task_of(nctx, item_id).id
        nclient.post(f"/api/v1/tasks/{task_id}/claim", headers=nkeys.auth(nkeys.reviewer))
        nclient.post(
            f"/api/v1/tasks/{task_id}/decision",
            json={"outcome": "approved"},
            headers=nkeys.auth(nkeys.reviewer),
        )
        clock.advance(minutes=5)
    assert [r for r in _outbox(nctx) if r.kind == "notify.email"] == []
    assert digests.send_due_digests(nctx) == 0  # the oldest entry waited 10 minutes, not 30
    clock.advance(minutes=25)
    assert digests.send_due_digests(nctx) == 1
    [digest] = [r for r in _outbox(nctx) if r.kind == "notify.email"]
    assert digest.target == "reviewer@example.com" and digest.item_id is None
    assert digest.payload["type"] == "digest" and digest.payload["minutes"] == 30
    kinds = [e["type"] for e in digest.payload["entries"]]
    assert kinds == ["task.assigned", "task.decided", "task.assigned", "task.decided"]
    assert digests.send_due_digests(nctx) == 0  # every entry went out once
    item_id = _submit(nclient, nkeys)
    nclient.post(
        f"/api/v1/tasks/{_task_of(nctx, item_id).id}/claim", headers=nkeys.auth(nkeys.reviewer)
    )
    clock.advance(minutes=31)
    assert digests.send_due_digests(nctx) == 1
    digests.set_digest_minutes(nctx, reviewer, 0)
    item_id = _submit(nclient, nkeys)
    nclient.post(
        f"/api/v1/tasks/{_task_of(nctx, item_id).id}/claim", headers=nkeys.auth(nkeys.reviewer)
    )
    [immediate] = [r for r in _outbox(nctx) if r.payload["type"] == "task.assigned"]
    assert immediate.target == "reviewer@example.com"


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ('{channel: webhook, url: "http://10.1.2.3/hook", on: [task.created]}', "notify.0.url"),
        (
            "{channel: slack, webhook_url_env: HOME, on: [task.escalated]}",
            "notify.0.webhook_url_env",
        ),
        (
            "{channel: pagerduty, routing_key_env: SIGNOFF_SECRET_KEY, on: [task.timed_out]}",
            "notify.0.routing_key_env",
        ),
    ],
)
def test_apply_refuses_a_notify_rule_that_would_reach_a_forbidden_address_or_secret(
    nclient: TestClient, nkeys: Keys, rule: str, field: str
) -> None:
    body = f"name: bad\nlabels: [a, b]\nai: {{provider: fake}}\nnotify:\n  - {rule}\n"
    response = nclient.put("/api/v1/workflows/bad", content=body, headers=nkeys.auth(nkeys.admin))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "outbound_refused"
    assert response.json()["field"] == field
    assert nclient.get("/api/v1/workflows/bad", headers=nkeys.auth(nkeys.admin)).status_code == 404
