"""A reviewer signs in, reviews with the keyboard, corrects a label, and watches the queue live."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from signoff.storage import tables as t
from tests.browser.support import REVIEWER, LiveServer, document, screenshot, sign_in

pytestmark = pytest.mark.browser


def _submit_for_review(live: LiveServer, count: int, seed: int = 1) -> list[int]:
    rng = random.Random(seed)
    ids = []
    for n in range(count):
        content = document(rng, n, label=["invoice", "receipt", "other"][n % 3])
        ids.append(
            live.submit(content["text"], content["label"], 0.4 + 0.1 * (n % 4), content["entities"])
        )
    for item_id in ids:
        assert live.wait_routed(item_id)["state"] == "in_review"
    return ids


def test_reviewer_signs_in_and_lands_on_the_queue(page: Any, live_server: LiveServer) -> None:
    page.goto("/ui/queue")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui/queue"))
    page.keyboard.type(REVIEWER[0])
    page.keyboard.press("Tab")
    page.keyboard.type(REVIEWER[1])
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/ui/queue$"))
    expect(page.locator("h1")).to_have_text("Review queue")
    expect(page.locator(".who .email")).to_have_text(REVIEWER[0])


def test_wrong_password_is_refused_with_a_message(page: Any, live_server: LiveServer) -> None:
    page.goto("/ui/login")
    page.fill("input[name=email]", REVIEWER[0])
    page.fill("input[name=password]", "not-the-password")
    page.keyboard.press("Enter")
    expect(page.locator(".flash-error")).to_have_text("wrong email or password")


def test_reviewer_reviews_three_items_using_only_the_keyboard(
    page: Any, live_server: LiveServer
) -> None:
    first, second, third = _submit_for_review(live_server, 3)
    sign_in(page, *REVIEWER)
    with page.expect_navigation():
        page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"/ui/items/{first}"))
    expect(page.locator("#review")).to_be_visible()
    with page.expect_navigation():
        page.keyboard.press("a")  # approve as the AI said
    expect(page).to_have_url(re.compile(rf"/ui/items/{second}"))
    page.keyboard.press("4")  # fourth label: other (the AI said receipt)
    expect(page.locator("#label")).to_have_value("other")
    with page.expect_navigation():
        page.keyboard.press("a")
    expect(page).to_have_url(re.compile(rf"/ui/items/{third}"))
    page.keyboard.press("c")
    page.keyboard.type("Not a business document.")
    page.keyboard.press("Escape")
    with page.expect_navigation():
        page.keyboard.press("r")
    expect(page).to_have_url(re.compile(r"/ui/queue"))
    expect(page.locator(".flash-success").last).to_contain_text("Nothing is waiting")

    decided = [live_server.item(i)["decision"] for i in (first, second, third)]
    assert [d["outcome"] for d in decided] == ["approved", "approved", "rejected"]
    assert decided[1]["label"] == "other" and decided[1]["override"] is True
    assert decided[2]["comment"] == "Not a business document."
    assert {d["decided_by"] for d in decided} == {f"user:{REVIEWER[0]}"}
    with live_server.ctx.sessions() as session:
        times = session.execute(sa.select(t.review_tasks.c.time_on_task_ms)).scalars().all()
    assert len(times) == 3 and all(ms is not None and ms >= 0 for ms in times)


def test_skipping_hands_the_task_back_and_opens_the_next(
    page: Any, live_server: LiveServer
) -> None:
    first, second = _submit_for_review(live_server, 2)
    sign_in(page, *REVIEWER)
    with page.expect_navigation():
        page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"/ui/items/{first}"))
    with page.expect_navigation():
        page.keyboard.press("n")  # skip
    expect(page).to_have_url(re.compile(rf"/ui/items/{second}"))
    page.goto(f"/ui/items/{first}")
    expect(page.locator("[data-event=released]")).to_have_count(1)


def test_corrected_label_shows_as_an_override_on_the_timeline(
    page: Any, live_server: LiveServer, screenshots: Path
) -> None:
    (item_id,) = _submit_for_review(live_server, 1)
    sign_in(page, *REVIEWER)
    with page.expect_navigation():
        page.click("#start")
    expect(page.locator("#doc-text mark.ent").first).to_be_visible()
    expect(page.locator("#doc-text mark[data-entity=org]")).to_have_text("Northwind Traders Ltd.")
    page.select_option("#label", "receipt")
    page.fill("#comment", "The AI read a receipt as an invoice.")
    page.evaluate("window.scrollTo(0, 0)")
    # A window as tall as the page, so the pinned outcome buttons sit where they belong.
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 1280, "height": height})
    screenshot(page, screenshots / "item.png", full_page=True)
    with page.expect_navigation():
        page.click("button[name=outcome][value=approved]")

    page.goto(f"/ui/items/{item_id}")
    timeline = page.locator("#timeline")
    expect(timeline.locator("[data-override=true]")).to_have_text("override: invoice → receipt")
    expect(timeline.locator("[data-event=decided] .ev-meta")).to_contain_text(REVIEWER[0])
    expect(timeline.locator("[data-event=viewed]").first).to_be_visible()
    expect(page.locator("#chain-status")).to_have_attribute("data-verified", "true")
    for event in ("received", "claimed", "routed_to_review", "assigned", "decided"):
        expect(timeline.locator(f"[data-event={event}]")).to_have_count(1)
    timeline.scroll_into_view_if_needed()
    screenshot(timeline, screenshots / "timeline.png")


def test_new_item_appears_in_the_queue_without_reload(
    page: Any, live_server: LiveServer, screenshots: Path
) -> None:
    _submit_for_review(live_server, 4, seed=3)
    sign_in(page, *REVIEWER)
    with page.expect_navigation():
        page.keyboard.press("n")  # hold one task so "My tasks" shows
    page.goto("/ui/queue")
    expect(page.locator("#live-status")).to_have_class(re.compile(r"\bon\b"))
    expect(page.locator('[data-count="open"]')).to_have_text("3")
    page.evaluate("window.__notReloaded = true")

    item_id = live_server.submit(
        "Invoice INV-7781 from Contoso Pharmaceuticals.\nAmount due: EUR 12,400.00.",
        "invoice",
        0.62,
        [{"type": "org", "text": "Contoso Pharmaceuticals"}],
    )
    row = page.locator(f'#unassigned a[href="/ui/items/{item_id}"]')
    expect(row).to_be_visible(timeout=15_000)
    expect(page.locator('[data-count="open"]')).to_have_text("4")
    expect(page.locator("#new-count")).to_have_text("1 new")
    assert page.evaluate("window.__notReloaded") is True
    screenshot(page, screenshots / "queue.png", full_page=True)
