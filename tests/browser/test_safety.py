"""Untrusted text renders as text; roles and CSRF tokens hold in a real browser."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.support import ADMIN, AUDITOR, REVIEWER, LiveServer, sign_in, sign_out

pytestmark = pytest.mark.browser

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def test_html_in_documents_renders_as_text_and_runs_nothing(
    page: Any, live_server: LiveServer
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    text = f"Invoice {SCRIPT} from {IMG} Evil Corp"
    item_id = live_server.submit(text, "invoice", 0.3, [{"type": "org", "text": IMG}], note=IMG)
    hostile_label = live_server.submit(f"Also {IMG}", IMG, 0.9)
    live_server.wait_routed(item_id)
    live_server.wait_routed(hostile_label)

    sign_in(page, *REVIEWER)
    page.goto("/ui/queue")
    expect(page.locator("#unassigned")).to_contain_text(IMG)
    with page.expect_navigation():
        page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"/ui/items/{item_id}"))
    expect(page.locator("#doc-text")).to_have_text(text)
    expect(page.locator("#doc-text mark[data-entity=org]")).to_have_text(IMG)
    page.fill("#comment", f"Looks odd {SCRIPT}")
    with page.expect_navigation():
        page.click("button[name=outcome][value=rejected]")

    sign_out(page)
    expect(page.locator(".flash")).to_have_text("You are signed out.")
    sign_in(page, *AUDITOR)
    page.goto(f"/ui/items/{item_id}")
    expect(page.locator("#timeline")).to_contain_text(f"Looks odd {SCRIPT}")
    page.locator("details.more summary").first.click()
    expect(page.locator("details.more pre").first).to_contain_text(IMG)
    page.goto(f"/ui/items/{hostile_label}")
    expect(page.locator(".ai .label-chip")).to_have_text(IMG)
    page.goto("/ui/items")
    expect(page.locator("#items-table")).to_contain_text(IMG)
    assert page.locator("img[src=x]").count() == 0
    assert page.locator("#doc-text script, main script").count() == 0
    assert dialogs == []


def test_reviewer_gets_403_on_admin_pages(page: Any, live_server: LiveServer) -> None:
    sign_in(page, *REVIEWER)
    for path in (
        "/ui/admin/workflows",
        "/ui/admin/workflows/docs",
        "/ui/admin/users",
        "/ui/admin/keys",
        "/ui/dashboard",
        "/ui/items",
    ):
        response = page.goto(path)
        assert response.status == 403, path
        expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator("nav")).not_to_contain_text("Users")


def test_form_post_without_the_csrf_token_is_refused(page: Any, live_server: LiveServer) -> None:
    sign_in(page, *ADMIN)
    page.goto("/ui/admin/users")
    page.fill("input[name=email]", "mallory@example.com")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    with page.expect_navigation() as navigation:
        page.click("text=Add user")
    assert navigation.value.status == 403
    expect(page.locator(".error-card")).to_contain_text("security token")
    page.goto("/ui/admin/users")
    expect(page.locator("#users")).not_to_contain_text("mallory@example.com")
