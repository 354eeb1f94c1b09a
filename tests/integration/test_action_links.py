"""Deciding from a message's link, without a session: confirm on GET, decide once on POST."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.clock import FrozenClock
from signoff.domain.review_ops import NotifyEvent
from signoff.services.context import Context
from signoff.storage import tables as t
from tests.conftest import Keys
from tests.integration import notify_support
from tests.integration.notify_support import WORKFLOW, _submit, _task_of, fire
from tests.integration.test_ui_security import sign_in

clock = notify_support.clock
nctx = notify_support.nctx
nclient = notify_support.nclient
nkeys = notify_support.nkeys


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _assigned_links(ctx: Context, client: TestClient, keys: Keys, workflow: str = "inv") -> Any:
    """An item in review, claimed by reviewer@example.com, whose assignment email went out."""
    item_id = _submit(client, keys, workflow=workflow)
    task_id = _task_of(ctx, item_id).id
    claimed = client.post(f"/api/v1/tasks/{task_id}/claim", headers=keys.auth(keys.reviewer))
    assert claimed.status_code == 200, claimed.text
    [email] = fire(ctx, NotifyEvent.TASK_ASSIGNED, _task_of(ctx, item_id))
    return task_id, {o: _path(u) for o, u in email.payload["actions"].items()}


def _decided_events(ctx: Context, item_id: int) -> list[Any]:
    with ctx.sessions() as session:
        return list(
            session.execute(
                sa.select(t.audit_events).where(
                    t.audit_events.c.item_id == item_id, t.audit_events.c.type == "decided"
                )
            )
        )


def test_get_only_confirms_and_post_decides_once_as_the_links_reviewer(
    nctx: Context, nclient: TestClient, nkeys: Keys
) -> None:
    task_id, links = _assigned_links(nctx, nclient, nkeys)
    nclient.cookies.clear()  # no session: the link alone is the credential
    page = nclient.get(links["rejected"])
    assert page.status_code == 200
    assert "Confirm your decision" in page.text and "Invoice 17 from ACME" in page.text
    assert 'value="rejected" checked' in page.text and "reviewer@example.com" in page.text
    assert _task_of(nctx, _task_of_item(nctx, task_id)).status == "assigned"  # GET decided nothing
    path = links["rejected"].split("?")[0]
    done = nclient.post(path, data={"outcome": "rejected", "comment": "wrong IBAN"})
    assert done.status_code == 200 and "Decision recorded" in done.text
    task = _task_of(nctx, _task_of_item(nctx, task_id))
    assert (task.status, task.outcome, task.comment) == ("decided", "rejected", "wrong IBAN")
    [event] = _decided_events(nctx, task.item_id)
    assert event.actor == "user:reviewer@example.com"
    assert event.data["channel"] == "email-link" and event.data["task_id"] == task_id
    for again in (nclient.get(links["approved"]), nclient.post(path, data={"outcome": "approved"})):
        assert again.status_code == 410 and "already used" in again.text
    assert _task_of(nctx, task.item_id).outcome == "rejected"
    assert len(_decided_events(nctx, task.item_id)) == 1


def _task_of_item(ctx: Context, task_id: int) -> int:
    with ctx.sessions() as session:
        return int(
            session.execute(
                sa.select(t.review_tasks.c.item_id).where(t.review_tasks.c.id == task_id)
            ).scalar_one()
        )


@pytest.mark.parametrize("tamper", ["mac", "id", "nonce", "shape"])
def test_a_tampered_link_is_refused_and_changes_nothing(
    nctx: Context, nclient: TestClient, nkeys: Keys, tamper: str
) -> None:
    task_id, links = _assigned_links(nctx, nclient, nkeys)
    path = links["approved"].split("?")[0]
    token = path.rsplit("/", 1)[1]
    link_id, nonce, mac = token.split(".")
    forged = {
        "mac": f"{link_id}.{nonce}.{mac[:-2]}{'A' if mac[-2] != 'A' else 'B'}{mac[-1]}",
        "id": f"{int(link_id) + 1}.{nonce}.{mac}",
        "nonce": f"{link_id}.{nonce[::-1]}.{mac}",
        "shape": "1.2",
    }[tamper]
    nclient.cookies.clear()
    for response in (
        nclient.get(f"/ui/links/{forged}?outcome=approved"),
        nclient.post(f"/ui/links/{forged}", data={"outcome": "approved"}),
    ):
        assert response.status_code == 404, response.text
        assert "does not work" in response.text
    assert _task_of(nctx, _task_of_item(nctx, task_id)).status == "assigned"
    # The real link still works: a forgery does not spend it.
    assert nclient.post(path, data={"outcome": "approved"}).status_code == 200


def test_an_expired_link_is_refused(
    nctx: Context, nclient: TestClient, nkeys: Keys, clock: FrozenClock
) -> None:
    task_id, links = _assigned_links(nctx, nclient, nkeys)
    clock.advance(hours=nctx.settings.notify.link_hours + 1)
    nclient.cookies.clear()
    page = nclient.get(links["approved"])
    assert page.status_code == 410 and "expired" in page.text
    posted = nclient.post(links["approved"].split("?")[0], data={"outcome": "approved"})
    assert posted.status_code == 410
    assert _task_of(nctx, _task_of_item(nctx, task_id)).status == "assigned"


def test_a_refused_form_gives_the_link_back(
    nctx: Context, nclient: TestClient, nkeys: Keys
) -> None:
    strict = WORKFLOW.replace("name: inv", "name: strict").replace(
        "outcomes: [approved, rejected]",
        "outcomes: [approved, rejected]\n  require_comment_on: [rejected]",
    )
    applied = nclient.put(
        "/api/v1/workflows/strict", content=strict, headers=nkeys.auth(nkeys.admin)
    )
    assert applied.status_code == 201, applied.text
    task_id, links = _assigned_links(nctx, nclient, nkeys, workflow="strict")
    path = links["rejected"].split("?")[0]
    nclient.cookies.clear()
    refused = nclient.post(path, data={"outcome": "rejected", "comment": " "})
    assert refused.status_code == 422 and "requires a comment" in refused.text
    assert nclient.post(path, data={"outcome": "rejected", "comment": "no PO"}).status_code == 200
    assert _task_of(nctx, _task_of_item(nctx, task_id)).outcome == "rejected"


def test_a_workflow_can_require_reviewers_to_sign_in_before_a_link_decides(
    nctx: Context, nclient: TestClient, nkeys: Keys
) -> None:
    guarded = WORKFLOW.replace("name: inv", "name: guarded").replace(
        "outcomes: [approved, rejected]",
        "outcomes: [approved, rejected]\n  links_require_sign_in: true",
    )
    applied = nclient.put(
        "/api/v1/workflows/guarded", content=guarded, headers=nkeys.auth(nkeys.admin)
    )
    assert applied.status_code == 201, applied.text
    task_id, links = _assigned_links(nctx, nclient, nkeys, workflow="guarded")
    path = links["approved"].split("?")[0]
    nclient.cookies.clear()
    page = nclient.get(links["approved"], follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/ui/login?next=")
    posted = nclient.post(path, data={"outcome": "approved"}, follow_redirects=False)
    assert posted.status_code == 303
    assert _task_of(nctx, _task_of_item(nctx, task_id)).status == "assigned"
    sign_in(nclient, "reviewer2@example.com", "reviewer-password-2")
    assert nclient.post(path, data={"outcome": "approved"}).status_code == 403  # not their link
    nclient.cookies.clear()
    sign_in(nclient, "reviewer@example.com", "reviewer-password-1")
    assert nclient.get(links["approved"]).status_code == 200
    assert nclient.post(path, data={"outcome": "approved"}).status_code == 200
    assert _task_of(nctx, _task_of_item(nctx, task_id)).outcome == "approved"


def test_a_chat_link_decides_as_whoever_signs_in(
    nctx: Context, nclient: TestClient, nkeys: Keys
) -> None:
    item_id = _submit(nclient, nkeys)
    messages = fire(nctx, NotifyEvent.TASK_ESCALATED, _task_of(nctx, item_id))
    [slack] = [m for m in messages if m.kind == "notify.slack"]
    link = _path(slack.payload["actions"]["approved"])
    nclient.cookies.clear()
    assert nclient.get(link, follow_redirects=False).status_code == 303
    sign_in(nclient, "admin@example.com", "admin-password-1")
    assert nclient.post(link.split("?")[0], data={"outcome": "approved"}).status_code == 200
    [event] = _decided_events(nctx, item_id)
    assert event.actor == "user:admin@example.com" and event.data["channel"] == "slack-link"


def test_notification_settings_page_sets_the_digest(
    nctx: Context, nclient: TestClient, nkeys: Keys
) -> None:
    token = sign_in(nclient, "reviewer@example.com", "reviewer-password-1")
    page = nclient.get("/ui/settings/notifications")
    assert page.status_code == 200 and 'value="0" selected' in page.text
    forged = nclient.post("/ui/settings/notifications", data={"digest_minutes": "60"})
    assert forged.status_code == 403  # no CSRF token
    saved = nclient.post(
        "/ui/settings/notifications", data={"digest_minutes": "60", "csrf_token": token}
    )
    assert saved.status_code == 200 and "one digest email every 60 minutes" in saved.text
    assert 'value="60" selected' in saved.text
    bad = nclient.post(
        "/ui/settings/notifications", data={"digest_minutes": "99999", "csrf_token": token}
    )
    assert bad.status_code == 422
