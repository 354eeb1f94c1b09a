"""Nobody answers: the clock moves through reminder, escalation and the default outcome.

Real worker threads (timer sweep and outbox sender) run against SQLite and
PostgreSQL with the injectable clock; a local PagerDuty Events API receiver,
checking each body against the documented shape, sees the alert triggered on
escalation and resolved when the timeout decides the task. The decision webhook
reaches the application's receiver too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from signoff.clock import FrozenClock
from signoff.services import intake, processing
from signoff.services import workflows as workflow_service
from signoff.services.context import create_context
from signoff.storage import audit
from signoff.storage import tables as t
from signoff.workers.runner import WorkerPool
from tests.channel_schemas import PAGERDUTY_EVENT, problems
from tests.conftest import make_settings
from tests.unit.test_chat_payloads import KEY
from tests.webhook_server import serving

PATIENCE = 60.0

WORKFLOW = """
name: invoices
labels: [invoice, other]
ai: {provider: fake, retries: 0}
routing: {threshold: 0.9}
review:
  outcomes: [approved, rejected]
  sla: {due_in: 4h, remind_after: 1h, escalate_after: 8h, escalate_to: leads,
        on_timeout: {after: 24h, outcome: rejected, comment: "no decision in 24 h"}}
notify:
  - {channel: pagerduty, routing_key_env: SIGNOFF_CREDENTIAL_PD_KEY,
     on: [task.escalated, task.decided]}
delivery: {webhook_url: "DECISIONS_URL"}
"""


def _wait(what: str, done: Callable[[], bool]) -> None:
    """Poll for progress until `done`, failing after PATIENCE seconds without it."""
    deadline = time.monotonic() + PATIENCE
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_unanswered_item_is_reminded_escalated_paged_and_decided_by_default(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages: list[dict[str, Any]] = []
    refused: list[list[str]] = []
    decisions: list[dict[str, Any]] = []

    def pagerduty(body: bytes, _headers: dict[str, str]) -> int:
        data = json.loads(body)
        wrong = problems(PAGERDUTY_EVENT, data)
        (refused if wrong else pages).append(wrong or data)  # type: ignore[arg-type]
        return 400 if wrong else 202

    def application(body: bytes, _headers: dict[str, str]) -> int:
        decisions.append(json.loads(body))
        return 200

    monkeypatch.setenv("SIGNOFF_CREDENTIAL_PD_KEY", KEY)
    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    with serving(pagerduty) as pd_url, serving(application) as app_url:
        settings = make_settings(
            db_url,
            pagerduty={"events_url": pd_url},
            timers={"interval_seconds": 0.05},
            worker={"retrain": False},
        )
        ctx = create_context(settings, clock=clock)
        pool = WorkerPool(ctx, concurrency=1)
        try:
            workflow_service.apply_workflow(ctx, WORKFLOW.replace("DECISIONS_URL", app_url), "t")
            content = {"text": "Invoice 118 from ACME", "label": "invoice", "confidence": 0.4}
            item_id = intake.submit_item(ctx, "invoices", intake.NewItem(content), "t").item_id
            processing.process_batch(ctx, "t", processing.ProviderCache(ctx), 10)
            pool.start()

            def kinds() -> list[str]:
                with ctx.sessions() as session:
                    return [e.type for e in audit.list_item_events(session, item_id)]

            clock.advance(hours=1)
            _wait("the reminder", lambda: "reminded" in kinds())
            assert pages == []  # a reminder pages nobody
            clock.advance(hours=7)
            _wait("the page on escalation", lambda: len(pages) == 1)
            assert pages[0]["event_action"] == "trigger"
            assert pages[0]["payload"]["severity"] == "warning"
            dedup = pages[0]["dedup_key"]
            assert dedup.startswith("signoff-task-")
            clock.advance(hours=16)
            _wait("the resolve on the default decision", lambda: len(pages) == 2)
            assert (pages[1]["event_action"], pages[1]["dedup_key"]) == ("resolve", dedup)
            _wait("the decision webhook", lambda: len(decisions) == 1)
            assert decisions[0]["data"]["outcome"] == "rejected"
            assert decisions[0]["data"]["decided_by"] == "system:timeout"
            assert refused == []
            timeline = [
                k for k in kinds() if k in ("reminded", "escalated", "timed_out", "decided")
            ]
            assert timeline == ["reminded", "escalated", "timed_out", "decided"]
            with ctx.sessions() as session:
                state = session.execute(
                    sa.select(t.items.c.state).where(t.items.c.id == item_id)
                ).scalar()
            assert state == "rejected"
        finally:
            pool.stop()
            ctx.close()
