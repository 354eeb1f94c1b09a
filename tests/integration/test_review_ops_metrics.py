"""Review-operations metrics: SLA timers fired, time to first touch, backlog per group.

Shown by the metrics API, /metrics (Prometheus text) and the dashboard, on SQLite
and PostgreSQL, with timers fired by the sweep on the injectable clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.clock import FrozenClock
from signoff.services import timers
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.storage import engine
from signoff.storage import tables as t
from tests.conftest import Keys, make_settings
from tests.integration.test_timers import SLA_WORKFLOW, START, _submit
from tests.integration.test_ui_security import sign_in


@pytest.fixture
def ops(db_url: str) -> Iterator[tuple[Context, TestClient, Keys]]:
    clock = FrozenClock(START)
    ctx = create_context(make_settings(db_url), clock=clock)
    workflow_service.apply_workflow(ctx, SLA_WORKFLOW, "test")
    keys = Keys(ctx)
    ids = _submit(ctx, 5)
    clock.advance(hours=1, minutes=30)
    timers.sweep(ctx)  # 5 reminded
    late = _submit(ctx, 2)  # created at 1h30: not yet reminded
    clock.advance(hours=7)
    timers.sweep(ctx)  # the first 5 escalated (handed to leads), the 2 late ones reminded
    clock.advance(hours=16)
    timers.sweep(ctx)  # the first 5 time out, the 2 late ones escalated
    with engine.transaction(ctx.sessions) as session:
        # What the claim path records when a reviewer first opens a task.
        task = t.review_tasks.c
        for item_id, minutes in zip(late, (10, 30), strict=True):
            session.execute(
                sa.update(t.review_tasks)
                .where(task.item_id == item_id)
                .values(
                    first_touched_at=START + timedelta(hours=1, minutes=30 + minutes),
                    group_name="clerks",
                )
            )
    assert len(ids) == 5
    with TestClient(create_app(ctx=ctx)) as client:
        yield ctx, client, keys
    ctx.close()


def test_summary_counts_timers_first_touch_and_group_backlog(
    ops: tuple[Context, TestClient, Keys],
) -> None:
    ctx, client, keys = ops
    response = client.get(
        "/api/v1/metrics/summary", params={"since": "all"}, headers=keys.auth(keys.admin)
    )
    assert response.status_code == 200, response.text
    body = response.json()["review_ops"]
    assert (body["reminded"], body["escalated"], body["timed_out"]) == (7, 7, 5)
    touch = body["time_to_first_touch_seconds"]
    assert touch["n"] == 2 and touch["median"] == pytest.approx(1200.0)
    assert body["groups"] == [
        {"group": "clerks", "backlog": 2, "oldest_age_seconds": pytest.approx(23 * 3600.0)}
    ]
    (workflow,) = response.json()["workflows"]
    assert (workflow["reminded"], workflow["escalated"], workflow["timed_out"]) == (7, 7, 5)


def test_prometheus_exposes_review_operations(ops: tuple[Context, TestClient, Keys]) -> None:
    _, client, _ = ops
    text = client.get("/metrics").text
    for line in (
        'signoff_task_reminders_total{workflow="invoices"} 7.0',
        'signoff_task_escalations_total{workflow="invoices"} 7.0',
        'signoff_task_timeouts_total{workflow="invoices"} 5.0',
        'signoff_task_first_touch_seconds_count{workflow="invoices"} 2.0',
        'signoff_task_first_touch_seconds_sum{workflow="invoices"} 2400.0',
        'signoff_group_backlog{group="clerks"} 2.0',
        'signoff_group_oldest_age_seconds{group="clerks"} 82800.0',
    ):
        assert line in text, line


def test_dashboard_shows_review_operations(ops: tuple[Context, TestClient, Keys]) -> None:
    _, client, _ = ops
    sign_in(client, "admin@example.com", "admin-password-1")
    page = client.get("/ui/dashboard", params={"range": "all"})
    assert page.status_code == 200, page.text
    html = page.text
    assert 'id="review-ops"' in html
    row = '<tr data-workflow="invoices"><td>invoices</td><td class="num">7</td><td class="num">7</td><td class="num">5</td></tr>'
    assert row in html
    group = '<tr data-group="clerks"><td>clerks</td><td class="num">2</td><td class="num">23.0 h</td></tr>'
    assert group in html
    assert "Time to first touch: median <strong>20 min</strong>" in html
    assert "read from duration buckets, within 12 % of the exact figure" in html


def test_the_item_timeline_names_each_sla_step(ops: tuple[Context, TestClient, Keys]) -> None:
    ctx, client, _ = ops
    with ctx.sessions() as session:
        item_id = (
            session.execute(
                sa.select(t.review_tasks.c.item_id).where(
                    t.review_tasks.c.timed_out_at.is_not(None)
                )
            )
            .scalars()
            .first()
        )
    sign_in(client, "admin@example.com", "admin-password-1")
    page = client.get(f"/ui/items/{item_id}")
    assert page.status_code == 200, page.text
    titles = ["Reminded (SLA)", "Escalated (SLA)", "Timed out: no decision in time (SLA)"]
    positions = [page.text.find(title) for title in [*titles, "Decided by default on timeout"]]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "system:timeout" in page.text and "sla.on_timeout" in page.text
