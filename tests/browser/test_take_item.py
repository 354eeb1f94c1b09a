"""A reviewer picks a particular item from the queue; a second reviewer sees who holds it."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from signoff.storage import tables as t
from tests.browser.support import REVIEWER, LiveServer, document, sign_in
from tests.conftest import Keys

pytestmark = pytest.mark.browser

REVIEWER2 = ("reviewer2@example.com", "reviewer-password-2")


def _in_review(live: LiveServer, count: int) -> list[int]:
    rng = random.Random(5)
    ids = []
    for n in range(count):
        content = document(rng, n, label="invoice")
        ids.append(live.submit(content["text"], "invoice", 0.5, content["entities"]))
    for item_id in ids:
        assert live.wait_routed(item_id)["state"] == "in_review"
    return ids


def _task_of(live: LiveServer, item_id: int) -> Any:
    with live.ctx.sessions() as session:
        return session.execute(
            sa.select(t.review_tasks).where(t.review_tasks.c.item_id == item_id)
        ).one()


def test_reviewer_reviews_the_item_they_pick_in_the_queue_not_the_next_one(
    page: Any, live_server: LiveServer
) -> None:
    first, second, third = _in_review(live_server, 3)
    sign_in(page, *REVIEWER)
    page.goto("/ui/queue")
    with page.expect_navigation():
        page.click(f'#unassigned tr:has(a[href="/ui/items/{third}"]) button:has-text("Review")')
    expect(page).to_have_url(re.compile(rf"/ui/items/{third}$"))
    expect(page.locator("#decision-form")).to_be_visible()
    with page.expect_navigation():
        page.keyboard.press("a")
    assert live_server.item(third)["decision"]["decided_by"] == f"user:{REVIEWER[0]}"
    assert live_server.item(first)["state"] == live_server.item(second)["state"] == "in_review"


def test_reviewer_opening_an_item_page_takes_its_task_with_one_click(
    page: Any, live_server: LiveServer
) -> None:
    _first, second = _in_review(live_server, 2)
    sign_in(page, *REVIEWER)
    page.goto(f"/ui/items/{second}")
    expect(page.locator("#review-status")).to_contain_text("Waiting in the queue")
    expect(page.locator("#decision-form")).to_have_count(0)
    with page.expect_navigation():
        page.click("#take-task")
    expect(page.locator("#decision-form")).to_be_visible()
    page.select_option("#label", "receipt")
    with page.expect_navigation():
        page.click("button[name=outcome][value=approved]")
    decision = live_server.item(second)["decision"]
    assert decision["label"] == "receipt" and decision["decided_by"] == f"user:{REVIEWER[0]}"


def test_second_reviewer_sees_who_holds_the_item_and_cannot_decide_it(
    browser: Any, page: Any, live_server: LiveServer
) -> None:
    (item_id,) = _in_review(live_server, 1)
    sign_in(page, *REVIEWER)
    page.goto(f"/ui/items/{item_id}")
    with page.expect_navigation():
        page.click("#take-task")
    expect(page.locator("#decision-form")).to_be_visible()

    other = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    try:
        tab = other.new_page()
        sign_in(tab, *REVIEWER2)
        tab.goto(f"/ui/items/{item_id}")
        expect(tab.locator("#review-status .holder")).to_have_text(REVIEWER[0])
        expect(tab.locator("#decision-form")).to_have_count(0)
        expect(tab.locator("#take-task")).to_have_count(0)
        # Deciding anyway, with the second reviewer's own key, is refused.
        token = live_server.keys.reviewer2
        task_id = _task_of(live_server, item_id).id
        refused = live_server.http.post(
            f"/api/v1/tasks/{task_id}/decision",
            json={"outcome": "rejected"},
            headers=Keys.auth(token),
        )
        assert refused.status_code == 409
        assert _task_of(live_server, item_id).status == "assigned"
    finally:
        other.close()

    with page.expect_navigation():
        page.keyboard.press("a")
    assert live_server.item(item_id)["decision"]["decided_by"] == f"user:{REVIEWER[0]}"


def test_a_lapsed_hold_can_be_taken_over_from_the_item_page(
    page: Any, live_server: LiveServer
) -> None:
    (item_id,) = _in_review(live_server, 1)
    task_id = _task_of(live_server, item_id).id
    taken = live_server.api("POST", f"/api/v1/tasks/{task_id}/claim", live_server.keys.reviewer2)
    assert taken.status_code == 200, taken.text
    sign_in(page, *REVIEWER)
    page.goto(f"/ui/items/{item_id}")
    expect(page.locator("#take-task")).to_have_count(0)

    minutes = live_server.ctx.settings.review.claim_minutes
    with live_server.ctx.engine.begin() as connection:
        connection.execute(
            sa.update(t.review_tasks)
            .where(t.review_tasks.c.id == task_id)
            .values(hold_expires_at=live_server.ctx.clock.now() - timedelta(minutes=minutes + 5))
        )
    page.reload()
    expect(page.locator("#review-status")).to_contain_text("hold has lapsed")
    with page.expect_navigation():
        page.click("#take-task")
    expect(page.locator("#decision-form")).to_be_visible()
    with page.expect_navigation():
        page.keyboard.press("a")
    assert live_server.item(item_id)["decision"]["decided_by"] == f"user:{REVIEWER[0]}"


def test_queue_previews_each_item_escaped_and_explains_the_route_in_words(
    page: Any, live_server: LiveServer
) -> None:
    text = "<b>Invoice</b> <script>window.__owned = 1</script> from Northwind & Co. " + "x" * 300
    item_id = live_server.submit(text, "invoice", 0.5)
    qa_id = live_server.submit("Receipt from Blue Bottle Coffee", "contract", 0.95)
    live_server.wait_routed(item_id)
    live_server.wait_routed(qa_id)
    sign_in(page, *REVIEWER)
    page.goto("/ui/queue")
    row = page.locator(f'#unassigned tr:has(a[href="/ui/items/{item_id}"])')
    preview = row.locator("td.preview")
    shown = preview.inner_text()
    assert shown.startswith(
        "<b>Invoice</b> <script>window.__owned = 1</script> from Northwind & Co."
    )
    assert len(shown) <= 160 and shown.endswith("…")
    assert preview.locator("b, script").count() == 0
    assert page.evaluate("window.__owned") is None
    expect(row.locator("td.reasons")).to_have_text("confidence 0.50 is below the threshold 0.85")
    contract = page.locator(f'#unassigned tr:has(a[href="/ui/items/{qa_id}"]) td.reasons')
    expect(contract).to_have_text("label “contract” is always reviewed by a person")

    page.goto(f"/ui/items/{item_id}")
    reason = page.locator("#route-reasons li").first
    expect(reason).to_have_text("confidence 0.50 is below the threshold 0.85")
    expect(reason).to_have_attribute("data-reason", "confidence 0.50 < 0.85")
    # The API keeps the code.
    assert live_server.item(item_id)["route"]["reasons"] == ["confidence 0.50 < 0.85"]


def test_decision_buttons_are_in_view_at_1366x768_for_a_long_document(
    browser: Any, live_server: LiveServer
) -> None:
    paragraphs = "\n\n".join(
        f"Clause {n}. The supplier Northwind Traders Ltd. shall deliver the goods described in "
        f"schedule {n} no later than 2026-02-14 and invoice EUR {n * 100}.00."
        for n in range(1, 80)
    )
    entities = [
        {"type": "org", "text": "Northwind Traders Ltd."},
        {"type": "date", "text": "2026-02-14"},
        {"type": "amount", "text": "EUR 100.00"},
        {"type": "amount", "text": "EUR 200.00"},
        {"type": "amount", "text": "EUR 300.00"},
        {"type": "amount", "text": "EUR 400.00"},
    ]
    item_id = live_server.submit(paragraphs, "invoice", 0.6, entities)
    live_server.wait_routed(item_id)
    context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=live_server.url)
    try:
        tab = context.new_page()
        sign_in(tab, *REVIEWER)
        tab.goto("/ui/queue")
        with tab.expect_navigation():
            tab.keyboard.press("n")
        expect(tab).to_have_url(re.compile(rf"/ui/items/{item_id}$"))
        assert tab.evaluate("document.documentElement.scrollHeight") > 768  # a long page
        assert tab.evaluate("window.scrollY") == 0
        for selector in (
            "button[name=outcome][value=approved]",
            "button[name=outcome][value=rejected]",
            "#label",
        ):
            box = tab.locator(selector).bounding_box()
            assert box is not None, selector
            assert box["y"] >= 0 and box["y"] + box["height"] <= 768, (selector, box)
            assert box["x"] >= 0 and box["x"] + box["width"] <= 1366, (selector, box)
    finally:
        context.close()
