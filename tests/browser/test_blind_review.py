"""A blind item's page shows the reviewer no AI suggestion, and its HTML holds none."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.support import REVIEWER, LiveServer, sign_in

pytestmark = pytest.mark.browser

# The model answers `receipt` at 0.42 whatever the document says.
BLIND = """
name: blindly
labels: [invoice, contract, receipt, other]
ai: {provider: fake, retries: 0, options: {label: receipt, confidence: 0.42}}
routing: {threshold: 0.85}
review: {outcomes: [approved, rejected], blind_rate: 1.0}
"""


def _claim(live: LiveServer, workflow: str) -> int:
    response = live.api(
        "POST", "/api/v1/reviews/claim", token=live.keys.reviewer, json={"workflow": workflow}
    )
    assert response.status_code == 200, response.text
    return int(response.json()["item_id"])


def test_blind_item_page_shows_no_suggestion_and_its_html_holds_none(
    page: Any, live_server: LiveServer
) -> None:
    live = live_server
    applied = live.api("PUT", "/api/v1/workflows/blindly", content=BLIND)
    assert applied.status_code == 201, applied.text
    submitted = live.api(
        "POST",
        "/api/v1/workflows/blindly/items",
        json={"content": {"text": "Invoice 2231 from ACME GmbH, amount due EUR 1,200.00"}},
    )
    assert submitted.status_code == 201, submitted.text
    blind_id = int(submitted.json()["id"])
    assert live.wait_routed(blind_id)["state"] == "in_review"
    # The same answer on an assisted item, for contrast.
    assisted_id = live.submit("Receipt for two coffees", label="receipt", confidence=0.42)
    assert live.wait_routed(assisted_id)["state"] == "in_review"

    sign_in(page, *REVIEWER)
    assert _claim(live, "docs") == assisted_id
    page.goto(f"/ui/items/{assisted_id}")
    expect(page.locator(".card.ai .label-chip")).to_have_text("receipt")
    assert "0.42" in page.content()

    page.goto("/ui/queue")
    page.goto(f"/ui/items/{assisted_id}")
    page.locator("button[name=outcome][value=approved]").click()
    page.wait_for_load_state()

    assert _claim(live, "blindly") == blind_id
    page.goto(f"/ui/items/{blind_id}")
    expect(page.locator("#blind-review")).to_be_visible()
    expect(page.locator(".card.ai .label-chip")).to_have_count(0)
    expect(page.locator("#route-reasons")).to_have_count(0)
    expect(page.locator(".card.ai .confidence")).to_have_count(0)
    expect(page.locator("select[name=label]")).to_have_value("")
    html = page.content()
    assert "0.42" not in html
    assert "(AI)" not in html
    assert not re.search(r'<option value="receipt"[^>]*selected', html)
    # The timeline shows the routing (and that it was blind), not what the AI said.
    expect(page.locator("#timeline")).to_contain_text("blind")
    expect(page.locator("#timeline")).not_to_contain_text("receipt")

    page.locator("select[name=label]").select_option("invoice")
    page.locator("button[name=outcome][value=approved]").click()
    page.wait_for_load_state()
    assert "relabelled" not in page.content()
    decided = live.item(blind_id)
    assert decided["state"] == "approved"
    assert decided["decision"]["label"] == "invoice"
    assert decided["prediction"]["label"] == "receipt"  # the admin's key still sees it
