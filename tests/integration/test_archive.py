"""Archiving decided items: the API, the CLI and the workers' sweep, on SQLite and PostgreSQL.

Archived items stay readable (API, item page, events) and their chains verify.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.clock import FrozenClock
from signoff.services import audit as audit_service
from signoff.services import intake, processing
from signoff.services import items as item_service
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.storage import audit, items
from signoff.storage import tables as t
from signoff.workers.runner import WorkerPool
from tests.conftest import FAKE_WORKFLOW, Keys, make_settings
from tests.integration.test_cli import output, run
from tests.integration.test_ui_security import sign_in

CONFIDENT = {"text": "an invoice", "label": "invoice", "confidence": 0.99}
UNSURE = {"text": "who knows", "label": "other", "confidence": 0.3}


def _submit(ctx: Context, content: dict[str, Any], workflow: str = "docs") -> int:
    return intake.submit_item(ctx, workflow, intake.NewItem(content=content), "test").item_id


def _process(ctx: Context) -> None:
    providers = processing.ProviderCache(ctx)
    while processing.process_batch(ctx, "test", providers, 100):
        pass


def _state(ctx: Context, item_id: int) -> str:
    with ctx.sessions() as session:
        return str(items.read_item(session, item_id).state)


def _event_types(ctx: Context, item_id: int) -> list[str]:
    with ctx.sessions() as session:
        return [e.type for e in audit.list_item_events(session, item_id)]


def _verified(ctx: Context) -> None:
    checked, problems = audit_service.verify_all(ctx)
    assert checked > 0 and not problems, problems


def test_admin_archives_a_decided_item_and_it_stays_readable(
    ctx: Context, client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    admin = keys.auth(keys.admin)
    decided = _submit(ctx, CONFIDENT)
    waiting = _submit(ctx, UNSURE)
    _process(ctx)
    assert (_state(ctx, decided), _state(ctx, waiting)) == ("approved", "in_review")

    refused = client.post(f"/api/v1/items/{decided}/archive", headers=keys.auth(keys.reviewer))
    assert refused.status_code == 403, refused.text

    response = client.post(f"/api/v1/items/{decided}/archive", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "archived"
    assert body["decision"]["outcome"] == "approved" and body["decision"]["decided_by"] == "ai"

    again = client.post(f"/api/v1/items/{decided}/archive", headers=admin)
    assert again.status_code == 409, again.text
    assert again.json()["error"] and "only decided items" in again.json()["detail"]
    open_item = client.post(f"/api/v1/items/{waiting}/archive", headers=admin)
    assert open_item.status_code == 409, open_item.text
    assert "in_review" in open_item.json()["detail"]
    assert client.post("/api/v1/items/999999/archive", headers=admin).status_code == 404

    read = client.get(f"/api/v1/items/{decided}", headers=keys.auth(keys.reviewer))
    assert read.status_code == 200 and read.json()["state"] == "archived"
    trail = client.get(f"/api/v1/items/{decided}/events", headers=admin).json()
    assert trail["verified"] is True, trail["problems"]
    last = trail["events"][-1]
    assert (last["type"], last["actor"]) == ("archived", "user:admin@example.com")
    assert (last["data"]["from"], last["data"]["to"]) == ("approved", "archived")
    listed = client.get("/api/v1/items", params={"state": "archived"}, headers=admin).json()
    assert [i["id"] for i in listed["items"]] == [decided]

    sign_in(client, "reviewer@example.com", "reviewer-password-1")
    page = client.get(f"/ui/items/{decided}")
    assert page.status_code == 200, page.text
    assert 'class="badge state state-archived">archived</span>' in page.text
    assert _state(ctx, waiting) == "in_review"
    _verified(ctx)


def _age_decisions(url: str, ids: list[int], days: int) -> None:
    """Pretend these items were decided `days` ago (the CLI runs on the real clock)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.update(t.items)
                .where(t.items.c.id.in_(ids))
                .values(decided_at=datetime.now(UTC) - timedelta(days=days))
            )
    finally:
        engine.dispose()


def test_cli_archives_items_decided_longer_ago_and_prints_how_many(
    db_url: str, ctx: Context
) -> None:
    workflow_service.apply_workflow(ctx, FAKE_WORKFLOW, "test")
    old = [_submit(ctx, CONFIDENT) for _ in range(3)]
    recent = _submit(ctx, CONFIDENT)
    waiting = _submit(ctx, UNSURE)
    _process(ctx)
    _age_decisions(db_url, old, days=45)

    result = run(db_url, "items", "archive", "--workflow", "docs", "--older-than", "30d")
    assert result.returncode == 0, output(result)
    assert "archived 3 items of workflow docs" in output(result)
    assert [_state(ctx, i) for i in old] == ["archived"] * 3
    assert (_state(ctx, recent), _state(ctx, waiting)) == ("approved", "in_review")
    assert _event_types(ctx, old[0])[-1] == "archived"

    repeat = run(db_url, "items", "archive", "--workflow", "docs", "--older-than", "30d")
    assert repeat.returncode == 0 and "archived 0 items" in output(repeat)

    bad_age = run(db_url, "items", "archive", "--workflow", "docs", "--older-than", "30x")
    assert bad_age.returncode == 1
    assert "--older-than" in output(bad_age) and "Traceback" not in output(bad_age)
    too_long = run(db_url, "items", "archive", "--workflow", "docs", "--older-than", "9999d")
    assert too_long.returncode == 1 and "out of range" in output(too_long)
    unknown = run(db_url, "items", "archive", "--workflow", "nope", "--older-than", "1d")
    assert unknown.returncode == 1 and "Traceback" not in output(unknown)

    verify = run(db_url, "audit", "verify")
    assert verify.returncode == 0 and "every chain intact" in output(verify)


ARCHIVING = FAKE_WORKFLOW.replace("name: docs", "name: docs\narchive_after: 1h")


@pytest.fixture
def clocked(db_url: str) -> Iterator[tuple[Context, FrozenClock]]:
    clock = FrozenClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
    settings = make_settings(
        db_url,
        worker={
            "concurrency": 1,
            "poll_seconds": 0.05,
            "archive_interval_seconds": 0.05,
            "archive_batch_size": 2,
        },
    )
    context = create_context(settings, clock=clock)
    yield context, clock
    context.close()


def test_workers_archive_items_once_archive_after_has_passed(
    clocked: tuple[Context, FrozenClock],
) -> None:
    ctx, clock = clocked
    workflow_service.apply_workflow(ctx, ARCHIVING, "test")
    workflow_service.apply_workflow(ctx, FAKE_WORKFLOW.replace("name: docs", "name: kept"), "test")
    due = [_submit(ctx, CONFIDENT) for _ in range(5)]  # more than one batch of 2
    kept = _submit(ctx, CONFIDENT, workflow="kept")  # its workflow never archives
    _process(ctx)
    clock.advance(minutes=30)
    later = _submit(ctx, CONFIDENT)
    _process(ctx)

    pool = WorkerPool(ctx, sender=False)
    pool.start()
    try:
        clock.advance(minutes=31)  # 61 minutes after the first decisions
        deadline = time.monotonic() + 120
        while not all(_state(ctx, i) == "archived" for i in due):
            assert time.monotonic() < deadline, [_state(ctx, i) for i in due]
            time.sleep(0.05)
        assert _state(ctx, later) == "approved"  # decided 31 minutes ago
        assert _state(ctx, kept) == "approved"
    finally:
        pool.stop()
    types = _event_types(ctx, due[0])
    assert types[-1] == "archived" and types.count("archived") == 1
    with ctx.sessions() as session:
        [event] = [e for e in audit.list_item_events(session, due[0]) if e.type == "archived"]
    assert event.actor.startswith("worker:")
    assert event.created_at.replace(tzinfo=UTC) == clock.now()  # the one clock, not the wall
    _verified(ctx)


def test_archive_decided_works_through_many_batches(db_url: str, ctx: Context) -> None:
    workflow_service.apply_workflow(ctx, FAKE_WORKFLOW, "test")
    ids = [_submit(ctx, CONFIDENT) for _ in range(7)]
    _process(ctx)
    view = workflow_service.get_workflow(ctx, "docs")
    assert item_service.archive_decided(ctx, view.id, timedelta(days=1), "test", batch_size=3) == 0
    _age_decisions(db_url, ids, days=2)
    archived = item_service.archive_decided(ctx, view.id, timedelta(days=1), "test", batch_size=3)
    assert archived == 7
    assert {_state(ctx, i) for i in ids} == {"archived"}
    _verified(ctx)


@pytest.mark.parametrize(
    ("value", "message"),
    [("0m", "out of range"), ("3651d", "out of range"), ("30x", "not a duration"), ("", "")],
)
def test_archive_after_must_be_a_bounded_duration(
    client: TestClient, keys: Keys, value: str, message: str
) -> None:
    text = FAKE_WORKFLOW.replace("name: docs", f"name: docs\narchive_after: '{value}'")
    response = client.put("/api/v1/workflows/docs", content=text, headers=keys.auth(keys.admin))
    assert response.status_code == 422, response.text
    assert "archive_after" in response.json()["detail"]
    assert message in response.json()["detail"]
