"""An item goes to review, the assignee gets an email from a real SMTP server, follows its
link in a real browser, confirms, and the decision lands (its webhook delivered).

Real processes (`signoff serve --no-workers` and `signoff worker`), a real SMTP server
(aiosmtpd) and webhook receiver on 127.0.0.1, Chromium through Playwright. Waits end
on progress, never on fixed sleeps.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import smtp_server
from tests.acceptance import test_crash_recovery as crash
from tests.acceptance.test_crash_recovery import Deployment, _free_port, _wait_until
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.webhook_server import serving

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# The crash test's deployment fixtures (SQLite and PostgreSQL), registered here.
crash_db_url = crash.crash_db_url
deployment = crash.deployment

WORKFLOW = """
name: acc
labels: [invoice, other]
ai: {{provider: fake, retries: 0}}
routing: {{threshold: 0.85}}
review:
  outcomes: [approved, rejected]
  instructions: "Check the **IBAN** against the supplier record."
notify:
  - {{channel: email, to: assignee, on: [task.assigned]}}
delivery: {{webhook_url: "{hook}"}}
"""


def test_assignee_decides_from_the_email_link_and_the_decision_webhook_is_delivered(
    deployment: Deployment,
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    deploy = deployment
    decisions: list[dict[str, Any]] = []
    delivered = threading.Event()

    def receive(body: bytes, headers: dict[str, str]) -> int:
        decisions.append(json.loads(body))
        delivered.set()
        return 204

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with smtp_server.receiving() as inbox, serving(receive) as hook:
        deploy.env.update(
            SIGNOFF_SMTP__HOST=inbox.host,
            SIGNOFF_SMTP__PORT=str(inbox.port),
            SIGNOFF_SMTP__FROM_ADDRESS="signoff@example.com",
            SIGNOFF_PUBLIC_URL=base,
            SIGNOFF_OUTBOUND__ALLOW="127.0.0.1",
        )
        deploy.run("db", "upgrade")
        deploy.run("users", "add", "rev@example.com", "--role", "reviewer")
        app_key = deploy.run("keys", "create", "app").stdout.strip()
        rev_key = deploy.run("keys", "create", "rev", "--user", "rev@example.com").stdout.strip()
        (deploy.workdir / "acc.yaml").write_text(WORKFLOW.format(hook=hook))
        deploy.run("workflows", "apply", "acc.yaml")
        deploy.start("serve", "serve", "--port", str(port), "--no-workers")
        deploy.start("worker", "worker")
        alive = ("serve", "worker")

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        _wait_until(ready, "a ready API server", deploy, alive=alive)
        app = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {app_key}"})
        reviewer = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {rev_key}"})
        content = {"text": "Invoice 17 from ACME <b>now</b>", "label": "invoice", "confidence": 0.4}
        submitted = app.post("/api/v1/workflows/acc/items", json={"content": content})
        assert submitted.status_code == 201, submitted.text
        item_id = submitted.json()["id"]

        def in_review() -> bool:
            return bool(app.get(f"/api/v1/items/{item_id}").json()["state"] == "in_review")

        _wait_until(in_review, "the item in review", deploy, alive=alive)
        claimed = reviewer.post("/api/v1/reviews/claim")
        assert claimed.status_code == 200, claimed.text

        [email] = inbox.wait_for(1, timeout=120)
        assert email["To"] == "rev@example.com"
        assert email["Subject"] == f"[signoff] Assigned to you: acc item {item_id}"
        html = email.get_body(("html",)).get_content()
        assert "Invoice 17 from ACME &lt;b&gt;now&lt;/b&gt;" in html
        match = re.search(r'data-outcome="approved" href="([^"]+)"', html)
        assert match, html
        link = match.group(1).replace("&amp;", "&")
        assert link.startswith(f"{base}/ui/links/")

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(link)
                assert page.locator("h1").inner_text() == "Confirm your decision"
                assert page.locator("#instructions strong").inner_text() == "IBAN"
                # A mail scanner's GET decides nothing.
                assert app.get(f"/api/v1/items/{item_id}").json()["state"] == "in_review"
                page.locator("#comment").fill("IBAN matches")
                page.locator("#confirm").click()
                page.wait_for_selector("#link-done")
                assert page.locator("#decided-outcome").inner_text() == "approved"
                page.goto(link)  # the same link again
                assert page.locator("#link-refused").get_attribute("data-reason") == "used"
            finally:
                browser.close()

        _wait_until(delivered.is_set, "the decision webhook", deploy, alive=alive)
        [decision] = decisions
        assert decision["type"] == "item.decided"
        assert decision["data"]["item_id"] == item_id
        assert decision["data"]["outcome"] == "approved"
        assert decision["data"]["decided_by"] == "user:rev@example.com"
        item = app.get(f"/api/v1/items/{item_id}").json()
        assert item["state"] == "approved"
        events = app.get(f"/api/v1/items/{item_id}/events")
        assert events.status_code == 200, events.text
        [decided] = [e for e in events.json()["events"] if e["type"] == "decided"]
        assert decided["actor"] == "user:rev@example.com"
        assert decided["data"]["channel"] == "email-link"
