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


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def test_auto_error_figures_say_what_they_bound_and_agree_with_the_api(
    page: Any, live_server: LiveServer
) -> None:
    seed_history(live_server)
    summary = live_server.api("GET", "/api/v1/metrics/summary?since=7d").json()
    calibration = live_server.api("GET", "/api/v1/workflows/kyc/calibration").json()
    assert (
        calibration["threshold"] is not None and calibration["auto_error_upper_bound"] is not None
    )
    sign_in(page, *ADMIN)
    page.goto("/ui/dashboard?range=7d")

    # The headline figure: QA-sampled reviews across all workflows, in the chosen range.
    overall = summary["auto_error"]
    card = page.locator("#auto-error")
    expect(card).to_have_attribute("data-method", "qa_sample")
    expect(card.locator(".stat-label")).to_have_text("Auto error (QA sample)")
    expect(card).to_contain_text("observed over all workflows")
    expect(card.locator("[data-metric=auto-error]")).to_have_text(_pct(overall["estimate"]))
    expect(card).to_contain_text("upper 95 % bound of the error on auto-decided items")
    expect(card).to_contain_text("QA-sampled reviews in this range")
    expect(card.locator("[data-bound]")).to_have_text(_pct(overall["upper_bound"]))
    expect(card.locator("[data-n]")).to_have_text(str(overall["n"]))
    expect(card).not_to_contain_text("within budget")

    # The error-budget workflow: the bound at the threshold in force, from the calibration.
    kyc = page.locator("td.auto-error[data-workflow=kyc]")
    expect(kyc).to_have_attribute("data-method", "error_budget")
    expect(kyc).to_contain_text(
        f"upper 95 % bound of the error on items at or above the threshold in force "
        f"({calibration['threshold']:.2f})"
    )
    expect(kyc.locator("[data-bound]")).to_have_text(_pct(calibration["auto_error_upper_bound"]))
    expect(kyc.locator("[data-n]")).to_have_text(str(calibration["reviewed_above_threshold"]))
    expect(kyc).to_contain_text(f"against a budget of {_pct(calibration['error_budget'])}")
    within = calibration["auto_error_upper_bound"] <= calibration["error_budget"]
    expect(kyc.locator(".badge")).to_have_text(
        "bound within budget" if within else "bound over budget"
    )
    expect(kyc).not_to_contain_text("QA-sampled")

    # A fixed-threshold workflow: its own QA sample in the range.
    docs = next(w for w in summary["workflows"] if w["workflow"] == "docs")["auto_error"]
    cell = page.locator("td.auto-error[data-workflow=docs]")
    expect(cell).to_have_attribute("data-method", "qa_sample")
    expect(cell.locator("[data-n]")).to_have_text(str(docs["n"]))
    expect(cell.locator("[data-bound]")).to_have_text(_pct(docs["upper_bound"]))

    # Narrowed to the error-budget workflow, the headline is the calibration's bound.
    page.goto("/ui/dashboard?range=7d&workflow=kyc")
    card = page.locator("#auto-error")
    expect(card).to_have_attribute("data-method", "error_budget")
    expect(card.locator(".stat-label")).to_have_text("Auto error at the threshold")
    expect(card.locator("[data-bound]")).to_have_text(_pct(calibration["auto_error_upper_bound"]))
