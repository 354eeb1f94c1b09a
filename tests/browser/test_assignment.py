"""An admin assigns, reassigns and releases a task from the queue and the item page; the
reviewer finds it under "My tasks" with its badges."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from signoff.storage import tables as t
from tests.browser.support import ADMIN, REVIEWER, LiveServer, document, sign_in

pytestmark = pytest.mark.browser


def _in_review(live: LiveServer, count: int) -> list[int]:
    rng = random.Random(9)
    ids = [
        live.submit(document(rng, n, label="invoice")["text"], "invoice", 0.5, [])
        for n in range(count)
    ]
    for item_id in ids:
        assert live.wait_routed(item_id)["state"] == "in_review"
    return ids


def _task(live: LiveServer, item_id: int) -> Any:
    with live.ctx.sessions() as session:
        return session.execute(
            sa.select(t.review_tasks).where(t.review_tasks.c.item_id == item_id)
        ).one()


def test_admin_assigns_from_the_queue_and_the_reviewer_sees_it_under_my_tasks(
    browser: Any, page: Any, live_server: LiveServer
) -> None:
    first, second = _in_review(live_server, 2)
    task_id = _task(live_server, first).id
    # The first one is overdue: the queue and My tasks mark it.
    with live_server.ctx.engine.begin() as connection:
        connection.execute(
            sa.update(t.review_tasks)
            .where(t.review_tasks.c.id == task_id)
            .values(due_at=live_server.ctx.clock.now() - timedelta(hours=1))
        )
    sign_in(page, *ADMIN)
    page.goto("/ui/queue")
    form = page.locator(f'#unassigned form[data-assign-task="{task_id}"]')
    form.locator("input[name=assignee]").fill(REVIEWER[0])
    with page.expect_navigation():
        form.locator("button[value=assign]").click()
    expect(page).to_have_url(re.compile(r"/ui/queue$"))
    held = page.locator(f'#held-tasks tr[data-task-id="{task_id}"]')
    expect(held.locator(".assignee-badge")).to_have_text(REVIEWER[0])
    expect(held.locator(".overdue-badge")).to_have_text("overdue")
    assert _task(live_server, first).status == "assigned"

    other = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    try:
        tab = other.new_page()
        sign_in(tab, *REVIEWER)
        tab.goto("/ui/my-tasks")
        row = tab.locator(f'#my-tasks tr[data-task-id="{task_id}"]')
        expect(row.locator(".overdue-badge")).to_be_visible()
        expect(tab.locator(f'#my-tasks a[href="/ui/items/{second}"]')).to_have_count(0)
        tab.click(f'#my-tasks a[href="/ui/items/{first}"]')
        expect(tab.locator("#decision-form")).to_be_visible()
        # Opening it was a touch: the task records when its assignee first looked at it.
        assert _task(live_server, first).first_touched_at is not None
    finally:
        other.close()

    # Reassign to the second reviewer, then release it, from the item page.
    page.goto(f"/ui/items/{first}")
    item_form = page.locator(f'#review-status form[data-assign-task="{task_id}"]')
    item_form.locator("input[name=assignee]").fill("reviewer2@example.com")
    with page.expect_navigation():
        item_form.locator("button[value=assign]").click()
    expect(page.locator("#review-status .holder")).to_have_text("reviewer2@example.com")
    with page.expect_navigation():
        page.locator(
            f'#review-status form[data-assign-task="{task_id}"] button[value=release]'
        ).click()
    expect(page.locator("#review-status")).to_contain_text("Waiting in the queue")
    events = live_server.api("GET", f"/api/v1/items/{first}/events", live_server.keys.admin).json()
    kinds = [e["type"] for e in events["events"] if e["type"] in ("assigned", "unassigned")]
    assert kinds == ["assigned", "assigned", "unassigned"]


def test_a_refused_assignment_shows_why_and_changes_nothing(
    page: Any, live_server: LiveServer
) -> None:
    (item_id,) = _in_review(live_server, 1)
    task_id = _task(live_server, item_id).id
    sign_in(page, *ADMIN)
    page.goto(f"/ui/items/{item_id}")
    form = page.locator(f'#review-status form[data-assign-task="{task_id}"]')
    form.locator("input[name=assignee]").fill("nobody@example.com")
    with page.expect_navigation():
        form.locator("button[value=assign]").click()
    expect(page.locator(".flash")).to_contain_text("no active user nobody@example.com")
    assert _task(live_server, item_id).status == "open"
