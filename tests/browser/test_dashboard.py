"""The dashboard draws its charts from the real figures of a week of traffic."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.support import ADMIN, AUDITOR, LiveServer, screenshot, seed_history, sign_in

pytestmark = pytest.mark.browser


def _counts(page: Any, chart: str, cls: str | None = None) -> list[float]:
    selector = f"svg[data-chart={chart}] rect.bar" + (f".{cls}" if cls else "")
    return [
        float(v)
        for v in page.eval_on_selector_all(
            selector, "els => els.map(e => e.getAttribute('data-count'))"
        )
    ]


def test_dashboard_draws_charts_from_real_data(
    page: Any, live_server: LiveServer, screenshots: Path
) -> None:
    seed_history(live_server)
    summary = live_server.api("GET", "/api/v1/metrics/summary?since=7d").json()
    assert summary["decisions"]["auto"] > 0 and summary["decisions"]["human"] > 0
    sign_in(page, *ADMIN)
    page.goto("/ui/dashboard?range=7d")

    hist = summary["confidence_histogram"]
    assert sum(_counts(page, "confidence", "s-auto")) == sum(hist["auto"])
    assert sum(_counts(page, "confidence", "s-human")) == sum(hist["human"])
    assert sum(_counts(page, "throughput")) == summary["decisions"]["total"]
    assert len(_counts(page, "reviewers")) == len(summary["reviewers"]) >= 2
    assert page.locator("svg[data-chart=override] circle.dot").count() >= 5
    expect(page.locator("[data-metric=decisions]")).to_have_text(str(summary["decisions"]["total"]))
    expect(page.locator("#workflow-metrics")).to_contain_text("kyc")
    screenshot(page, screenshots / "dashboard.png", full_page=True)

    page.click("button[name=range][value='24h']")
    expect(page).to_have_url(re.compile(r"range=24h"))
    day = live_server.api("GET", "/api/v1/metrics/summary?since=24h").json()
    assert sum(_counts(page, "throughput")) == day["decisions"]["total"]


def test_auditor_sees_the_dashboard_and_items_but_not_admin_pages(
    page: Any, live_server: LiveServer
) -> None:
    sign_in(page, *AUDITOR)
    assert page.goto("/ui/dashboard").status == 200
    assert page.goto("/ui/items").status == 200
    assert page.goto("/ui/admin/workflows").status == 403
    assert page.goto("/ui/queue").status == 403
