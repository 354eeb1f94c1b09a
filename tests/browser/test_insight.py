"""In a real browser: the built-in model's top terms highlighted in the document, and a
review form with typed fields whose values are validated, stored and shown."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from signoff.services import training
from signoff.services import workflows as workflow_service
from tests.browser.support import REVIEWER, LiveServer, screenshot, sign_in
from tests.unit.test_learner import corpus

pytestmark = pytest.mark.browser

TOPICS = {
    "name": "topics",
    "labels": ["billing", "security", "meeting"],
    "ai": {"provider": "builtin"},
    "routing": {"threshold": 0.999},
    "training": {"min_labels": 20},
    "review": {
        "fields": [
            {"name": "severity", "type": "choice", "choices": ["low", "high"], "required": True},
            {"name": "affected_users", "type": "number", "min": 0, "max": 1000},
            {"name": "noticed_on", "type": "date"},
            {"name": "ticket", "type": "text", "min": 6, "max": 12},
        ]
    },
}
TEXT = "Please reset my password: the account is locked since the phishing mail. Thanks, the team"


def _item_in_review(live: LiveServer) -> int:
    workflow_service.apply_workflow(live.ctx, TOPICS, "test")
    texts, labels = corpus(240)
    training.import_labels(live.ctx, "topics", zip(texts, labels, strict=True))
    training.train_workflow(live.ctx, "topics")
    response = live.api("POST", "/api/v1/workflows/topics/items", json={"content": {"text": TEXT}})
    assert response.status_code == 201, response.text
    item_id = int(response.json()["id"])
    routed = live.wait_routed(item_id)
    assert routed["state"] == "in_review" and routed["prediction"]["label"] == "security"
    return item_id


def test_the_models_top_terms_are_highlighted_and_typed_fields_are_decided(
    page: Any, live_server: LiveServer, screenshots: Path
) -> None:
    item_id = _item_in_review(live_server)
    terms = [t["term"] for t in live_server.item(item_id)["prediction"]["explanation"]["terms"]]
    sign_in(page, *REVIEWER)
    page.goto(f"/ui/items/{item_id}")
    marks = page.locator("#doc-text mark.term")
    expect(marks.first).to_be_visible()
    shown = {m.get_attribute("data-term") for m in marks.all()}
    assert shown and shown <= set(terms)
    assert "password" in " ".join(shown) or "locked" in " ".join(shown)
    # The text reads the same with its highlights: nothing was dropped or duplicated.
    expect(page.locator("#doc-text")).to_have_text(TEXT)
    expect(page.locator("#why-terms li")).to_have_count(len(terms))

    with page.expect_navigation():
        page.click("#take-task")
    expect(page.locator("#review-fields")).to_be_visible()
    page.select_option("#field-severity", "high")
    page.fill("#field-affected_users", "42")
    page.fill("#field-noticed_on", "2026-11-30")
    page.fill("#field-ticket", "SEC-1")  # too short: the server names the field
    screenshot(page.locator("#review"), screenshots / "review-fields.png")
    with page.expect_navigation():
        page.click("button[value=approved]")
    expect(page.locator("#form-error")).to_contain_text("fields.ticket")
    # What the reviewer typed is still there; fix the one field and decide.
    expect(page.locator("#field-affected_users")).to_have_value("42")
    page.fill("#field-ticket", "SEC-1234")
    with page.expect_navigation():
        page.click("button[value=approved]")

    decision = live_server.wait_for(lambda: live_server.item(item_id)["decision"])
    assert decision["fields"] == {
        "severity": "high",
        "affected_users": 42,
        "noticed_on": "2026-11-30",
        "ticket": "SEC-1234",
    }
    page.goto(f"/ui/items/{item_id}")
    expect(page.locator('[data-field="affected_users"]')).to_have_text("42")
    expect(page.locator('[data-field="severity"]')).to_have_text("high")
    assert re.search(r"SEC-1234", page.content())
