"""Helpers the browser tests share: the live server handle, signing in, screenshots."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from signoff.services.context import Context
from tests.conftest import Keys

# The README's pictures; only `make screenshots` (pytest --update-screenshots) writes here.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


class LiveServer:
    """The app served over real HTTP, with helpers to submit items and wait for them."""

    def __init__(self, ctx: Context, keys: Keys, base_url: str, pool: Any) -> None:
        self.ctx = ctx
        self.pool = pool
        self.keys = keys
        self.url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=10)

    def pause_workers(self) -> None:
        """Stop the background workers (a test moving items along itself)."""
        self.pool.stop()

    def resume_workers(self) -> None:
        from signoff.workers.runner import WorkerPool

        self.pool = WorkerPool(self.ctx, concurrency=1, sender=False)
        self.pool.start()

    def api(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = Keys.auth(token or self.keys.admin)
        return self.http.request(method, path, headers=headers, **kwargs)

    def submit(
        self,
        text: str,
        label: str = "invoice",
        confidence: float = 0.5,
        entities: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> int:
        content = {
            "text": text,
            "label": label,
            "confidence": confidence,
            "entities": entities or [],
            **extra,
        }
        response = self.api("POST", "/api/v1/workflows/docs/items", json={"content": content})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def item(self, item_id: int) -> dict[str, Any]:
        response = self.api("GET", f"/api/v1/items/{item_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait_for(self, check: Callable[[], Any], timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError("timed out waiting")

    def wait_routed(self, item_id: int) -> dict[str, Any]:
        return self.wait_for(  # type: ignore[no-any-return]
            lambda: (i := self.item(item_id))["state"] not in ("received", "processing") and i
        )


def sign_in(page: Any, email: str, password: str) -> None:
    """Sign in with the keyboard, as a person would."""
    page.goto("/ui/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/ui/login" not in page.url, page.content()


def screenshot(target: Any, path: Path, **kwargs: Any) -> None:
    """Save a screenshot to `path` (see the `screenshots` fixture for where that is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(path), **kwargs)


REVIEWER = ("reviewer@example.com", "reviewer-password-1")
ADMIN = ("admin@example.com", "admin-password-1")
AUDITOR = ("auditor@example.com", "auditor-password-1")


KYC_WORKFLOW = """
name: kyc
description: Customer onboarding checks.
labels: [clear, needs_documents, high_risk]
entities:
  - {type: person}
  - {type: country}
ai: {provider: fake, retries: 0}
routing: {error_budget: 0.08, min_reviewed: 30, qa_sample_rate: 0.2}
review: {outcomes: [approved, rejected], sla_hours: 8}
"""

DOCUMENTS = [
    (
        "invoice",
        "Invoice INV-{n} from Northwind Traders Ltd.\nAmount due: EUR {amount} by 2026-02-14.\n"
        "Please remit to IBAN DE44 5001 0517 5407 3249 31.",
        [("org", "Northwind Traders Ltd."), ("amount", "EUR {amount}"), ("date", "2026-02-14")],
    ),
    (
        "receipt",
        "Receipt #{n} - Blue Bottle Coffee\nTotal paid: USD {amount}\nThank you for your visit!",
        [("org", "Blue Bottle Coffee"), ("amount", "USD {amount}")],
    ),
    (
        "contract",
        "Service agreement between Globex Corporation and Initech LLC, effective 2026-03-01, "
        "for a fee of EUR {amount} per month.",
        [("org", "Globex Corporation"), ("org", "Initech LLC"), ("date", "2026-03-01")],
    ),
    (
        "other",
        "Hi team, the office will be closed on 2026-04-03 for maintenance. Ticket {n}.",
        [("date", "2026-04-03")],
    ),
]


def document(rng: Any, n: int, label: str | None = None) -> dict[str, Any]:
    """Realistic document content for the fake provider, with its entities."""
    kind, template, entities = (
        rng.choice(DOCUMENTS) if label is None else next(d for d in DOCUMENTS if d[0] == label)
    )
    amount = f"{rng.randint(20, 9000):,}.{rng.randint(0, 99):02d}"
    text = template.format(n=1000 + n, amount=amount)
    return {
        "text": text,
        "label": kind,
        "entities": [{"type": t, "text": v.format(amount=amount)} for t, v in entities],
    }


def seed_history(live: LiveServer, days: int = 7, seed: int = 7) -> None:
    """A week of real traffic through the services, on a clock that walks through the days."""
    live.pause_workers()
    try:
        _seed(live.ctx, days, seed)
    finally:
        live.resume_workers()


def _seed(ctx: Context, days: int, seed: int) -> None:
    import random
    from datetime import UTC, datetime, timedelta

    from signoff.clock import FrozenClock
    from signoff.services import intake, items, processing, review, users, workflows
    from signoff.services.context import create_context

    rng = random.Random(seed)
    today = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    clock = FrozenClock(today - timedelta(days=days - 1))
    hist = create_context(ctx.settings, clock=clock)
    hist.rng = random.Random(seed)
    workflows.apply_workflow(hist, KYC_WORKFLOW, "seed")
    providers = processing.ProviderCache(hist)
    docs_id = workflows.get_workflow(hist, "docs").id
    people = [
        p
        for p in (
            users.principal_for_user(hist, u.id)
            for u in users.list_users(hist)
            if u.role in ("reviewer", "admin")
        )
        if p is not None
    ]
    n = 0
    for day in range(days):
        for _ in range(rng.randint(14, 24)):
            n += 1
            content = document(rng, n)
            truth = content["label"]
            confidence = round(min(0.99, max(0.3, rng.betavariate(6, 2))), 3)
            if rng.random() > confidence:
                content["label"] = rng.choice([d[0] for d in DOCUMENTS if d[0] != truth])
            content.update(confidence=confidence, truth=truth)
            intake.submit_item(hist, "docs", intake.NewItem(content=content), "key:seed")
            kyc_conf = round(min(0.995, max(0.3, rng.betavariate(8, 1.5))), 3)
            kyc_truth = rng.choice(["clear", "clear", "clear", "needs_documents", "high_risk"])
            kyc_label = kyc_truth if rng.random() < (1 + kyc_conf) / 2 else "high_risk"
            intake.submit_item(
                hist,
                "kyc",
                intake.NewItem(
                    content={
                        "text": f"Applicant Maria Lopez ({n}), resident of Spain, passport verified.",
                        "label": kyc_label,
                        "confidence": kyc_conf,
                        "truth": kyc_truth,
                        "entities": [
                            {"type": "person", "text": f"Maria Lopez ({n})"},
                            {"type": "country", "text": "Spain"},
                        ],
                    }
                ),
                "key:seed",
            )
            clock.advance(minutes=rng.randint(5, 25))
            processing.process_batch(hist, "seed", providers, 100)
        # People review most of the day's work; the last day leaves some waiting.
        budget = 12 if day == days - 1 else 10_000
        for principal in people * 200:
            budget -= 1
            if budget < 0:
                break
            task = review.claim_next_task(hist, principal)
            if task is None:
                break
            clock.advance(seconds=rng.randint(20, 400))
            content = items.get_item_row(hist, task.item_id).content
            wrong = task.workflow_id == docs_id and rng.random() < 0.04
            review.decide(
                hist,
                principal,
                task.id,
                review.DecisionInput(
                    outcome="rejected" if wrong else "approved",
                    label=content["truth"],
                    comment="Checked against the original." if rng.random() < 0.2 else None,
                    time_on_task_ms=rng.randint(8_000, 180_000),
                ),
            )
        if day < days - 1:
            clock.advance(
                seconds=(today - timedelta(days=days - 2 - day) - clock.now()).total_seconds()
            )
    hist.close()


def sign_out(page: Any) -> None:
    with page.expect_navigation():
        page.click("button:has-text('Sign out')")
    assert "/ui/login" in page.url
