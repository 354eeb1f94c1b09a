"""What the notification tests share: a workflow with notify rules, a frozen clock, helpers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.clock import FrozenClock
from signoff.domain import audit as audit_rules
from signoff.domain.review_ops import NotifyEvent
from signoff.services import notifications, processing
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.storage import engine, groups, items, state, tasks
from signoff.storage import tables as t
from tests.conftest import Keys, make_settings

WORKFLOW = """
name: inv
labels: [invoice, contract, other]
ai: {provider: fake, retries: 0}
routing: {threshold: 0.85}
review:
  outcomes: [approved, rejected]
  sla: {escalate_after: 2h, escalate_to: leads}
notify:
  - {channel: email, to: assignee, on: [task.assigned, task.decided]}
  - {channel: email, to: escalate_to, on: [task.escalated]}
  - {channel: slack, webhook_url_env: SIGNOFF_CREDENTIAL_SLACK, on: [task.escalated]}
  - {channel: pagerduty, routing_key_env: SIGNOFF_CREDENTIAL_PD, on: [task.escalated, task.decided]}
  - {channel: webhook, url: "http://127.0.0.1:9/events", on: [item.decided]}
"""
UNSURE = {"text": "Invoice 17 from ACME, IBAN DE02 1203", "label": "invoice", "confidence": 0.5}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def nctx(db_url: str, clock: FrozenClock) -> Iterator[Context]:
    context = create_context(make_settings(db_url, public_url="https://signoff.example"), clock)
    yield context
    context.close()


@pytest.fixture
def nclient(nctx: Context) -> Iterator[TestClient]:
    # Served over https, as the https public URL says: session cookies are Secure there.
    with TestClient(create_app(ctx=nctx), base_url="https://testserver") as test_client:
        yield test_client


@pytest.fixture
def nkeys(nctx: Context, nclient: TestClient) -> Keys:
    found = Keys(nctx)
    response = nclient.put(
        "/api/v1/workflows/inv", content=WORKFLOW, headers=found.auth(found.admin)
    )
    assert response.status_code == 201, response.text
    with engine.transaction(nctx.sessions) as session:
        group_id = groups.create_group(session, "leads", None, nctx.clock.now(), org_id=1)
        for email in ("admin@example.com", "reviewer2@example.com"):
            user = session.execute(sa.select(t.users).where(t.users.c.email == email)).one()
            groups.create_member(session, group_id, user.id, [], nctx.clock.now())
    return found


def _submit(
    client: TestClient, keys: Keys, content: dict[str, Any] = UNSURE, workflow: str = "inv"
) -> int:
    response = client.post(
        f"/api/v1/workflows/{workflow}/items",
        json={"content": content},
        headers=keys.auth(keys.admin),
    )
    assert response.status_code == 201, response.text
    ctx: Context = client.app.state.ctx  # type: ignore[attr-defined]
    processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 10)
    return int(response.json()["id"])


def _task_of(ctx: Context, item_id: int) -> Any:
    with ctx.sessions() as session:
        [task] = tasks.list_tasks_for_item(session, item_id)
    return task


def fire(ctx: Context, event: NotifyEvent, task: Any) -> list[state.OutboxMessage]:
    """What the assignment and timer services do on a review event: messages on its audit event."""
    with ctx.sessions() as session:
        item = items.read_item(session, task.item_id)
    spec = workflow_service.get_spec(ctx, item.workflow_id, item.workflow_version)
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        messages = notifications.messages_for(
            session,
            ctx,
            event,
            spec=spec,
            workflow_id=item.workflow_id,
            task_id=task.id,
            item_id=task.item_id,
            now=now,
            data={"why": "test"},
        )
        assert state.append_item_event(
            session,
            task.item_id,
            audit_rules.EventKind.ASSIGNED,
            "system",
            {"task_id": task.id},
            now,
            outbox=messages,
        )
    return messages


def _outbox(ctx: Context, kind_prefix: str = "notify.") -> list[Any]:
    with ctx.sessions() as session:
        return list(
            session.execute(
                sa.select(t.outbox)
                .where(t.outbox.c.kind.startswith(kind_prefix))
                .order_by(t.outbox.c.id)
            )
        )


def _links(ctx: Context) -> list[Any]:
    with ctx.sessions() as session:
        return list(session.execute(sa.select(t.action_links).order_by(t.action_links.c.id)))


def _user_id(ctx: Context, email: str) -> int:
    with ctx.sessions() as session:
        return int(
            session.execute(sa.select(t.users.c.id).where(t.users.c.email == email)).scalar_one()
        )
