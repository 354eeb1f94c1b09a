"""Retention on SQLite and PostgreSQL: the workers purge old content, legal holds stop them.

The purge replaces content and metadata by a marker with the content's hash; the
decision, the audit trail and every chain's verification stay.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.clock import FrozenClock
from signoff.domain import compliance as compliance_rules
from signoff.domain import errors
from signoff.domain import workflow as wf
from signoff.services import audit as audit_service
from signoff.services import intake, processing
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.storage import audit, items
from signoff.workers.runner import WorkerPool
from tests.conftest import FAKE_WORKFLOW, Keys, make_settings
from tests.integration.test_cli import assert_ok, assert_refused, output, run

CONFIDENT = {"text": "an invoice about Jane Doe", "label": "invoice", "confidence": 0.99}
RETAINING = FAKE_WORKFLOW.replace("name: docs", "name: docs\nretain_content_for: 2h")


@pytest.fixture
def clocked(db_url: str) -> Iterator[tuple[Context, FrozenClock]]:
    clock = FrozenClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
    settings = make_settings(
        db_url,
        worker={
            "concurrency": 1,
            "poll_seconds": 0.05,
            "retention_interval_seconds": 0.05,
            "retention_batch_size": 2,
        },
    )
    context = create_context(settings, clock=clock)
    yield context, clock
    context.close()


def _submit(ctx: Context, workflow: str = "docs", **meta: Any) -> int:
    item = intake.NewItem(content=CONFIDENT, metadata={"customer": "jane", **meta})
    return intake.submit_item(ctx, workflow, item, "test").item_id


def _process(ctx: Context) -> None:
    providers = processing.ProviderCache(ctx)
    while processing.process_batch(ctx, "test", providers, 100):
        pass


def _row(ctx: Context, item_id: int) -> Any:
    with ctx.sessions() as session:
        return items.read_item(session, item_id)


def test_workers_purge_content_after_retention_except_items_on_legal_hold(
    clocked: tuple[Context, FrozenClock],
) -> None:
    ctx, clock = clocked
    workflow_service.apply_workflow(ctx, RETAINING, "test")
    workflow_service.apply_workflow(ctx, FAKE_WORKFLOW.replace("name: docs", "name: kept"), "t")
    old = [_submit(ctx) for _ in range(5)]  # more than one batch of 2
    held = _submit(ctx)
    kept = _submit(ctx, workflow="kept")  # its workflow keeps content for ever
    _process(ctx)
    clock.advance(minutes=90)
    recent = _submit(ctx)
    _process(ctx)

    keys = Keys(ctx)
    with TestClient(create_app(ctx=ctx)) as client:
        refused = client.post(f"/api/v1/items/{held}/hold", headers=keys.auth(keys.auditor))
        assert refused.status_code == 403, refused.text
        response = client.post(
            f"/api/v1/items/{held}/hold",
            json={"reason": "litigation 2026-17"},
            headers=keys.auth(keys.admin),
        )
        assert response.status_code == 200, response.text
        assert response.json()["legal_hold"] is True
        assert response.json()["held_by"] == "user:admin@example.com"
        missing = client.post("/api/v1/items/999999/hold", headers=keys.auth(keys.admin))
        assert missing.status_code == 404

        pool = WorkerPool(ctx, sender=False)
        pool.start()
        try:
            clock.advance(minutes=31)  # 121 minutes after the first decisions
            deadline = time.monotonic() + 120
            while not all(_row(ctx, i).content_purged_at is not None for i in old):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(0.2)  # a few more sweeps: the held and recent items must stay
            assert _row(ctx, held).content == CONFIDENT
            assert _row(ctx, recent).content == CONFIDENT
            assert _row(ctx, kept).content == CONFIDENT
        finally:
            pool.stop()

        purged = _row(ctx, old[0])
        digest = compliance_rules.content_hash(CONFIDENT)
        assert purged.content == {
            "_purged": True,
            "content_sha256": digest,
            "purged_at": clock.now().isoformat(),
        }
        assert purged.metadata == {"_purged": True} and purged.content_hash == digest
        assert (purged.state, purged.outcome, purged.decided_by) == ("approved", "approved", "ai")
        with ctx.sessions() as session:
            events = audit.list_item_events(session, old[0])
        assert events[-1].type == "content_purged" and events[-1].actor.startswith("worker:")
        assert events[-1].data == {"content_sha256": digest, "reason": "retain_content_for"}
        assert [e.type for e in events].count("content_purged") == 1
        checked, problems = audit_service.verify_all(ctx)
        assert checked > 0 and not problems, problems

        item = client.get(f"/api/v1/items/{old[0]}", headers=keys.auth(keys.admin)).json()
        assert item["content"]["_purged"] is True and item["decision"]["outcome"] == "approved"
        record = client.get(f"/api/v1/items/{old[0]}/record", headers=keys.auth(keys.admin))
        assert record.json()["input"]["content_sha256"] == digest
        assert record.json()["input"]["content_purged_at"] is not None
        assert record.json()["audit"]["verified"] is True

        released = client.delete(f"/api/v1/items/{held}/hold", headers=keys.auth(keys.admin))
        assert released.status_code == 200 and released.json()["legal_hold"] is False
        again = client.delete(f"/api/v1/items/{held}/hold", headers=keys.auth(keys.admin))
        assert again.status_code == 409, again.text
    with ctx.sessions() as session:
        held_types = [e.type for e in audit.list_item_events(session, held)]
    assert held_types[-2:] == ["legal_hold_set", "legal_hold_released"]


def test_retention_period_is_bounded_in_the_workflow_spec() -> None:
    assert wf.parse_retention("90d").days == 90
    for bad in ("30m", "3651d", "90x", ""):
        with pytest.raises(ValueError):
            wf.parse_retention(bad)
    with pytest.raises(errors.InvalidWorkflow) as caught:
        wf.parse_workflow({**wf.load_workflow_data(FAKE_WORKFLOW), "retain_content_for": "10m"})
    assert caught.value.context.get("field") == "retain_content_for"


def test_cli_holds_and_releases_an_item(db_url: str, ctx: Context) -> None:
    workflow_service.apply_workflow(ctx, RETAINING, "test")
    item_id = _submit(ctx)
    assert_ok(run(db_url, "items", "hold", str(item_id), "--reason", "subpoena"))
    assert _row(ctx, item_id).legal_hold_by == "cli"
    released = run(db_url, "items", "hold", str(item_id), "--release")
    assert_ok(released)
    assert f"item {item_id} released" in output(released)
    assert _row(ctx, item_id).legal_hold_at is None
    assert_refused(run(db_url, "items", "hold", str(item_id), "--release"), "not on legal hold")
    assert_refused(run(db_url, "items", "hold", "999999"), "999999")
