"""Assignment on SQLite and PostgreSQL: strategies at task creation, group-only claims,
the admin assign API, claim_timeout on the injectable clock, `signoff groups`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.clock import FrozenClock
from signoff.domain.states import Role
from signoff.services import groups, processing, users
from signoff.services.context import Context, create_context
from signoff.settings import Settings
from signoff.storage import tables as t
from tests.conftest import Keys
from tests.integration.test_cli import run

UNSURE = {"label": "invoice", "confidence": 0.5}
CLERKS = ["ann@example.com", "bob@example.com", "cat@example.com"]


def _workflow(assignment: str) -> str:
    return f"""
name: docs
labels: [invoice, contract, receipt, other]
ai: {{provider: fake, retries: 0}}
routing: {{threshold: 0.85}}
review:
  outcomes: [approved, rejected]
  assignment: {assignment}
"""


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def fctx(settings: Settings, clock: FrozenClock) -> Iterator[Context]:
    context = create_context(settings, clock)
    yield context
    context.close()


@pytest.fixture
def fclient(fctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx=fctx)) as test_client:
        yield test_client


@pytest.fixture
def fkeys(fctx: Context) -> Keys:
    keys = Keys(fctx)
    for email in CLERKS:
        users.add_user(fctx, email, Role.REVIEWER)
    groups.add_members(fctx, "clerks", CLERKS)
    return keys


def _apply(client: TestClient, keys: Keys, assignment: str) -> None:
    response = client.put(
        "/api/v1/workflows/docs", content=_workflow(assignment), headers=keys.auth(keys.admin)
    )
    assert response.status_code in (200, 201), response.text


def _route(ctx: Context, client: TestClient, keys: Keys, contents: list[dict[str, Any]]) -> None:
    response = client.post(
        "/api/v1/workflows/docs/items/batch",
        json={"items": [{"content": c} for c in contents]},
        headers=keys.auth(keys.admin),
    )
    assert response.status_code == 201, response.text
    processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 500)


def _tasks(ctx: Context) -> list[Any]:
    query = (
        sa.select(t.review_tasks, t.users.c.email)
        .select_from(
            t.review_tasks.outerjoin(t.users, t.users.c.id == t.review_tasks.c.assignee_id)
        )
        .order_by(t.review_tasks.c.id)
    )
    with ctx.sessions() as session:
        return list(session.execute(query))


def _events(ctx: Context, kind: str) -> list[Any]:
    with ctx.sessions() as session:
        return list(
            session.execute(
                sa.select(t.audit_events)
                .where(t.audit_events.c.type == kind)
                .order_by(t.audit_events.c.id)
            )
        )


def test_round_robin_gives_the_group_members_tasks_in_turn_across_batches(
    fctx: Context, fclient: TestClient, fkeys: Keys
) -> None:
    _apply(fclient, fkeys, "{strategy: round_robin, group: clerks}")
    _route(fctx, fclient, fkeys, [UNSURE] * 4)
    # A second worker process (its own context) continues the same turn from the database.
    other = create_context(fctx.settings, fctx.clock)
    try:
        _route(other, fclient, fkeys, [UNSURE] * 2)
    finally:
        other.close()
    rows = _tasks(fctx)
    assert [r.email for r in rows] == CLERKS + CLERKS
    assert {r.status for r in rows} == {"assigned"} and {r.group_name for r in rows} == {"clerks"}
    events = _events(fctx, "assigned")
    assert len(events) == 6 and events[0].actor == "assignment"
    assert events[0].data == {
        "task_id": rows[0].id,
        "strategy": "round_robin",
        "group": "clerks",
        "assignee": "ann@example.com",
    }


def test_least_loaded_respects_the_cap_and_leaves_the_rest_in_the_groups_pool(
    fctx: Context, fclient: TestClient, fkeys: Keys
) -> None:
    _apply(fclient, fkeys, "{strategy: least_loaded, group: clerks, max_open_per_reviewer: 2}")
    _route(fctx, fclient, fkeys, [UNSURE] * 8)
    rows = _tasks(fctx)
    held: dict[str, int] = {}
    for r in rows:
        if r.email:
            held[r.email] = held.get(r.email, 0) + 1
    assert held == {e: 2 for e in CLERKS}
    pool = [r for r in rows if r.status == "open"]
    assert len(pool) == 2 and all(r.group_name == "clerks" and r.assignee_id is None for r in pool)
    # Bob decides one: he now has the fewest open tasks and gets the next one.
    bob = users.create_key(fctx, "bob", "bob@example.com")[1]
    bobs = next(r for r in rows if r.email == "bob@example.com")
    decided = fclient.post(
        f"/api/v1/tasks/{bobs.id}/decision", json={"outcome": "approved"}, headers=Keys.auth(bob)
    )
    assert decided.status_code == 200, decided.text
    _route(fctx, fclient, fkeys, [UNSURE])
    assert _tasks(fctx)[-1].email == "bob@example.com"


def test_least_loaded_breaks_a_tie_by_who_has_been_idle_longest(
    fctx: Context, fclient: TestClient, fkeys: Keys, clock: FrozenClock
) -> None:
    _apply(fclient, fkeys, "{strategy: least_loaded, group: clerks}")
    _route(fctx, fclient, fkeys, [UNSURE] * 3)  # one each: ann, bob, cat (never active: by id)
    assert [r.email for r in _tasks(fctx)] == CLERKS
    for email, row in zip(CLERKS, _tasks(fctx), strict=True):
        key = users.create_key(fctx, email, email)[1]
        clock.advance(minutes=5)
        response = fclient.post(
            f"/api/v1/tasks/{row.id}/decision", json={"outcome": "approved"}, headers=Keys.auth(key)
        )
        assert response.status_code == 200
    # All have 0 open tasks now; ann decided longest ago.
    _route(fctx, fclient, fkeys, [UNSURE])
    assert _tasks(fctx)[-1].email == "ann@example.com"


def test_skill_rules_send_a_label_to_the_members_with_the_skill(
    fctx: Context, fclient: TestClient, fkeys: Keys
) -> None:
    users.add_user(fctx, "lee@example.com", Role.REVIEWER)
    users.add_user(fctx, "max@example.com", Role.REVIEWER)
    groups.add_members(fctx, "legal", ["max@example.com"], {"lee@example.com": ["contracts"]})
    _apply(
        fclient,
        fkeys,
        "{strategy: skill, group: clerks,"
        " rules: [{label: contract, group: legal, skill: contracts}]}",
    )
    _route(fctx, fclient, fkeys, [{"label": "contract", "confidence": 0.4}, UNSURE])
    contract, invoice = _tasks(fctx)
    assert (contract.group_name, contract.email) == ("legal", "lee@example.com")
    assert invoice.group_name == "clerks" and invoice.email in CLERKS
    [first] = [e for e in _events(fctx, "assigned") if e.data["task_id"] == contract.id]
    assert first.data["rule"] == "label=contract" and first.data["skill"] == "contracts"


def test_a_group_task_is_claimed_only_by_its_members(
    fctx: Context, fclient: TestClient, fkeys: Keys
) -> None:
    _apply(fclient, fkeys, "{strategy: pull, group: clerks}")
    _route(fctx, fclient, fkeys, [UNSURE])
    [task] = _tasks(fctx)
    assert task.group_name == "clerks" and task.status == "open"
    outsider = Keys.auth(fkeys.reviewer)
    assert fclient.post("/api/v1/reviews/claim", headers=outsider).status_code == 204
    refused = fclient.post(f"/api/v1/tasks/{task.id}/claim", headers=outsider)
    assert refused.status_code == 403 and "clerks" in refused.json()["detail"]
    ann = Keys.auth(users.create_key(fctx, "ann", "ann@example.com")[1])
    claimed = fclient.post("/api/v1/reviews/claim", headers=ann)
    assert claimed.status_code == 200 and claimed.json()["group"] == "clerks"
    # Admins may always act.
    _route(fctx, fclient, fkeys, [UNSURE])
    admin = fclient.post("/api/v1/reviews/claim", headers=Keys.auth(fkeys.admin))
    assert admin.status_code == 200 and admin.json()["group"] == "clerks"


def test_admins_assign_reassign_and_release_a_task_through_the_api(
    fctx: Context, fclient: TestClient, fkeys: Keys
) -> None:
    _apply(fclient, fkeys, "{strategy: pull, group: clerks}")
    _route(fctx, fclient, fkeys, [UNSURE])
    [task] = _tasks(fctx)
    admin = Keys.auth(fkeys.admin)
    url = f"/api/v1/tasks/{task.id}/assign"
    first = fclient.post(url, json={"assignee": "ann@example.com"}, headers=admin)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "assigned" and first.json()["hold_expires_at"]
    again = fclient.post(url, json={"assignee": "BOB@example.com"}, headers=admin)
    assert again.status_code == 200
    assert _tasks(fctx)[0].email == "bob@example.com"
    released = fclient.post(url, json={"assignee": None}, headers=admin)
    assert released.status_code == 200 and released.json()["status"] == "open"
    assert released.json()["assignee_id"] is None
    assigned = [e.data for e in _events(fctx, "assigned")]
    assert [(d["assignee"], d.get("previous")) for d in assigned] == [
        ("ann@example.com", None),
        ("bob@example.com", "ann@example.com"),
    ]
    [unassigned] = _events(fctx, "unassigned")
    assert unassigned.data["previous"] == "bob@example.com"
    assert unassigned.actor == "user:admin@example.com"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"assignee": "nobody@example.com"}, 422, "validation_error"),
        ({"assignee": "reviewer@example.com"}, 422, "validation_error"),  # not in clerks
        ({"assignee": "auditor@example.com"}, 422, "validation_error"),  # not a reviewer
        ({"assignee": 5}, 422, "validation_error"),
        ({}, 422, "validation_error"),
        ({"assignee": "ann@example.com", "extra": 1}, 422, "validation_error"),
    ],
)
def test_an_assignment_the_task_cannot_take_is_refused_naming_the_field(
    fctx: Context, fclient: TestClient, fkeys: Keys, body: dict[str, Any], status: int, error: str
) -> None:
    _apply(fclient, fkeys, "{strategy: pull, group: clerks}")
    _route(fctx, fclient, fkeys, [UNSURE])
    [task] = _tasks(fctx)
    response = fclient.post(
        f"/api/v1/tasks/{task.id}/assign", json=body, headers=Keys.auth(fkeys.admin)
    )
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.json().get("field") in ("assignee", "extra")


def test_assigning_a_missing_decided_or_someone_elses_task_answers_404_409_403(
    fctx: Context, fclient: TestClient, fkeys: Keys
) -> None:
    _apply(fclient, fkeys, "{strategy: pull}")
    _route(fctx, fclient, fkeys, [UNSURE])
    [task] = _tasks(fctx)
    admin = Keys.auth(fkeys.admin)
    body = {"assignee": "reviewer@example.com"}
    missing = fclient.post("/api/v1/tasks/999999/assign", json=body, headers=admin)
    assert missing.status_code == 404 and missing.json()["error"] == "task_not_found"
    by_reviewer = fclient.post(
        f"/api/v1/tasks/{task.id}/assign", json=body, headers=Keys.auth(fkeys.reviewer)
    )
    assert by_reviewer.status_code == 403
    fclient.post(f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approved"}, headers=admin)
    decided = fclient.post(f"/api/v1/tasks/{task.id}/assign", json=body, headers=admin)
    assert decided.status_code == 409 and decided.json()["error"] == "task_already_decided"


def test_an_assigned_task_nobody_touched_for_claim_timeout_returns_to_the_pool(
    fctx: Context, fclient: TestClient, fkeys: Keys, clock: FrozenClock
) -> None:
    _apply(fclient, fkeys, "{strategy: round_robin, group: clerks, claim_timeout: 30m}")
    _route(fctx, fclient, fkeys, [UNSURE, UNSURE])
    first, second = _tasks(fctx)
    assert (first.email, second.email) == ("ann@example.com", "bob@example.com")
    bob = Keys.auth(users.create_key(fctx, "bob", "bob@example.com")[1])
    cat = Keys.auth(users.create_key(fctx, "cat", "cat@example.com")[1])
    clock.advance(minutes=20)
    # Bob opens his task: a touch, his hold runs again from now.
    _touch_via_claim(fclient, bob, second.id)
    clock.advance(minutes=15)
    # 35 minutes untouched: Ann's task is back in the pool; Bob's (touched 15 min ago) is not.
    taken = fclient.post("/api/v1/reviews/claim", headers=cat)
    assert taken.status_code == 200 and taken.json()["id"] == first.id
    assert fclient.post(f"/api/v1/tasks/{second.id}/claim", headers=cat).status_code == 409
    rows = {r.id: r for r in _tasks(fctx)}
    assert rows[first.id].email == "cat@example.com"
    assert rows[second.id].first_touched_at is not None
    lapsed = [e.data for e in _events(fctx, "assigned") if e.data.get("lapsed_hold_of")]
    assert lapsed == [
        {
            "task_id": first.id,
            "strategy": "pull",
            "group": "clerks",
            "assignee": "cat@example.com",
            "lapsed_hold_of": "ann@example.com",
        }
    ]


def _touch_via_claim(client: TestClient, headers: dict[str, str], task_id: int) -> None:
    """The assignee opening their own task (the API's claim of a task they hold)."""
    response = client.post(f"/api/v1/tasks/{task_id}/claim", headers=headers)
    assert response.status_code == 200, response.text


def test_groups_cli_adds_lists_and_removes_members_and_names_an_unknown_email(
    db_url: str, ctx: Context
) -> None:
    users.add_user(ctx, "rev@example.com", Role.REVIEWER)
    users.add_user(ctx, "two@example.com", Role.REVIEWER)
    added = run(
        db_url,
        "groups",
        "add",
        "clerks",
        "--member",
        "rev@example.com",
        "--skill",
        "two@example.com=german,french",
    )
    assert added.returncode == 0, added.stderr
    assert "2 member(s)" in added.stdout
    listed = run(db_url, "groups", "list")
    assert "rev@example.com" in listed.stdout and "french, german" in listed.stdout
    unknown = run(db_url, "groups", "add", "clerks", "--member", "ghost@example.com")
    assert unknown.returncode == 1 and "ghost@example.com" in unknown.stderr
    removed = run(db_url, "groups", "remove-member", "clerks", "rev@example.com")
    assert removed.returncode == 0 and "1 member(s)" in removed.stdout
    view = groups.get_group(ctx, "clerks")
    assert [(m.email, m.skills) for m in view.members] == [
        ("two@example.com", ["french", "german"])
    ]
    bad = run(db_url, "groups", "add", "Bad Name", "--member", "rev@example.com")
    assert bad.returncode == 1 and "group name" in bad.stderr


def test_groups_api_adds_members_with_skills_and_names_an_unknown_email(
    client: TestClient, keys: Keys
) -> None:
    admin = Keys.auth(keys.admin)
    made = client.post(
        "/api/v1/groups/clerks/members",
        json={"members": ["reviewer@example.com"], "skills": {"reviewer2@example.com": ["de"]}},
        headers=admin,
    )
    assert made.status_code == 200, made.text
    assert made.json()["members"] == [
        {"email": "reviewer2@example.com", "skills": ["de"]},
        {"email": "reviewer@example.com", "skills": []},
    ]
    unknown = client.post(
        "/api/v1/groups/clerks/members", json={"members": ["x@example.com"]}, headers=admin
    )
    assert unknown.status_code == 404 and "x@example.com" in unknown.json()["detail"]
    listed = client.get("/api/v1/groups", headers=admin).json()
    assert [g["name"] for g in listed["groups"]] == ["clerks"]
    gone = client.delete("/api/v1/groups/clerks/members/reviewer@example.com", headers=admin)
    assert gone.status_code == 200 and len(gone.json()["members"]) == 1
    assert client.get("/api/v1/groups", headers=Keys.auth(keys.reviewer)).status_code == 403
