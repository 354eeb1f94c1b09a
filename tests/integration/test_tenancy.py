"""Orgs (tenants): what one org's keys, reviewers and admins see of another's — nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.domain.access import Scope
from signoff.domain.states import Role
from signoff.services import orgs, processing, users
from signoff.services.context import Context
from signoff.storage import tables as t
from tests.conftest import FAKE_WORKFLOW, Keys
from tests.integration.test_ui_security import sign_in

API = "/api/v1"
HTML = {"accept": "text/html"}


def _workflow(name: str) -> str:
    return FAKE_WORKFLOW.replace("name: docs", f"name: {name}")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Tenant:
    """One org: its admin, reviewer, application key, workflow, an item and its task."""

    name: str
    org_id: int
    admin: str
    reviewer: str
    app: str
    workflow: str
    item: int = 0
    task: int = 0


def _tenant(ctx: Context, client: TestClient, name: str) -> Tenant:
    org = orgs.add_org(ctx, name)
    users.add_user(
        ctx, f"admin@{name}.test", Role.ADMIN, password=f"{name}-admin-pass-1", org_id=org.id
    )
    users.add_user(
        ctx, f"reviewer@{name}.test", Role.REVIEWER, password=f"{name}-review-pass-1", org_id=org.id
    )
    tenant = Tenant(
        name=name,
        org_id=org.id,
        admin=users.create_key(ctx, "admin", f"admin@{name}.test")[1],
        reviewer=users.create_key(ctx, "reviewer", f"reviewer@{name}.test")[1],
        app=users.create_key(ctx, "app", None, scopes={Scope.ITEMS}, org_id=org.id)[1],
        workflow=f"{name}-docs",
    )
    put = client.put(
        f"{API}/workflows/{tenant.workflow}",
        content=_workflow(tenant.workflow),
        headers=_auth(tenant.admin),
    )
    assert put.status_code == 201, put.text
    item = client.post(
        f"{API}/workflows/{tenant.workflow}/items",
        json={"content": {"label": "contract", "confidence": 0.99}},
        headers=_auth(tenant.app),
    )
    assert item.status_code == 201, item.text
    tenant.item = item.json()["id"]
    return tenant


@pytest.fixture
def tenants(ctx: Context, client: TestClient, keys: Keys) -> tuple[Tenant, Tenant]:
    """Orgs acme and globex, each with an item waiting for review in its own workflow."""
    acme, globex = _tenant(ctx, client, "acme"), _tenant(ctx, client, "globex")
    processing.process_batch(ctx, "test", processing.ProviderCache(ctx), 100)
    with ctx.sessions() as session:
        for tenant in (acme, globex):
            tenant.task = session.execute(
                sa.select(t.review_tasks.c.id).where(t.review_tasks.c.item_id == tenant.item)
            ).scalar_one()
    return acme, globex


def test_a_workflow_applied_by_an_org_admin_belongs_to_that_org(
    ctx: Context, tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = tenants
    with ctx.sessions() as session:
        owners = dict(session.execute(sa.select(t.workflows.c.name, t.workflows.c.org_id)).all())
    assert owners == {"acme-docs": acme.org_id, "globex-docs": globex.org_id}


def test_another_orgs_workflow_answers_as_a_missing_one(
    client: TestClient, tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = tenants
    for token in (acme.admin, acme.reviewer):
        listed = client.get(f"{API}/workflows", headers=_auth(token)).json()["workflows"]
        assert [w["name"] for w in listed] == ["acme-docs"]
        for path in ("", "/calibration", "/versions"):
            foreign = client.get(f"{API}/workflows/globex-docs{path}", headers=_auth(token))
            missing = client.get(f"{API}/workflows/no-such{path}", headers=_auth(token))
            assert foreign.status_code == missing.status_code, path
            assert foreign.status_code in (403, 404), foreign.text
            assert foreign.json()["error"] == missing.json()["error"]
    submitted = client.post(
        f"{API}/workflows/globex-docs/items", json={"content": {}}, headers=_auth(acme.app)
    )
    assert submitted.status_code == 404 and submitted.json()["error"] == "workflow_not_found"


def test_an_org_admin_cannot_take_over_another_orgs_workflow_or_choose_an_org(
    client: TestClient, ctx: Context, tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = tenants
    takeover = client.put(
        f"{API}/workflows/globex-docs",
        content=_workflow("globex-docs").replace("0.85", "0.1"),
        headers=_auth(acme.admin),
    )
    assert takeover.status_code == 422, takeover.text
    assert takeover.json()["field"] == "name"
    chosen = client.put(
        f"{API}/workflows/acme-new?org=globex",
        content=_workflow("acme-new"),
        headers=_auth(acme.admin),
    )
    assert chosen.status_code == 403 and chosen.json()["field"] == "org"
    with ctx.sessions() as session:
        versions = session.execute(sa.select(sa.func.count()).select_from(t.workflow_versions))
        assert versions.scalar_one() == 2  # one per org's workflow: nothing was written


def test_a_platform_admin_puts_a_new_workflow_in_the_org_it_names(
    client: TestClient, ctx: Context, keys: Keys, tenants: tuple[Tenant, Tenant]
) -> None:
    _, globex = tenants
    made = client.put(
        f"{API}/workflows/globex-more?org=globex",
        content=_workflow("globex-more"),
        headers=keys.auth(keys.admin),
    )
    assert made.status_code == 201, made.text
    unknown = client.put(
        f"{API}/workflows/other?org=nobody",
        content=_workflow("other"),
        headers=keys.auth(keys.admin),
    )
    assert unknown.status_code == 404 and unknown.json()["field"] == "org"
    listed = client.get(f"{API}/workflows", headers=_auth(globex.reviewer)).json()["workflows"]
    assert sorted(w["name"] for w in listed) == ["globex-docs", "globex-more"]
    everything = client.get(f"{API}/workflows", headers=keys.auth(keys.admin)).json()["workflows"]
    assert {"acme-docs", "globex-docs", "globex-more"} <= {w["name"] for w in everything}


def test_items_and_their_trail_of_another_org_are_not_found(
    client: TestClient, tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = tenants
    for token in (acme.app, acme.reviewer, acme.admin):
        listed = client.get(f"{API}/items", headers=_auth(token)).json()
        assert [i["id"] for i in listed["items"]] == [acme.item]
        for suffix in ("", "/events", "/record"):
            foreign = client.get(f"{API}/items/{globex.item}{suffix}", headers=_auth(token))
            missing = client.get(f"{API}/items/999999{suffix}", headers=_auth(token))
            assert foreign.status_code == missing.status_code, (suffix, foreign.text)
            assert foreign.json() == {
                **missing.json(),
                "detail": foreign.json()["detail"],
                **({"item_id": globex.item} if "item_id" in foreign.json() else {}),
            }
        for action in ("cancel", "archive", "hold"):
            refused = client.post(f"{API}/items/{globex.item}/{action}", headers=_auth(token))
            assert refused.status_code in (403, 404), (action, refused.text)


def test_a_reviewer_never_claims_sees_or_decides_another_orgs_task(
    client: TestClient, tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = tenants
    claimed = client.post(f"{API}/reviews/claim", headers=_auth(acme.reviewer))
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["id"] == acme.task
    # Asking again gives back the task already held, never the other org's waiting one.
    again = client.post(f"{API}/reviews/claim", headers=_auth(acme.reviewer))
    assert again.status_code == 200 and again.json()["id"] == acme.task, again.text
    for method, path, body in [
        ("GET", "/tasks/{}", None),
        ("POST", "/tasks/{}/claim", None),
        ("POST", "/tasks/{}/decision", {"outcome": "approved"}),
    ]:
        foreign = client.request(
            method, API + path.format(globex.task), json=body, headers=_auth(acme.reviewer)
        )
        missing = client.request(
            method, API + path.format(999999), json=body, headers=_auth(acme.reviewer)
        )
        assert foreign.status_code == missing.status_code == 404, (path, foreign.text)
        assert foreign.json()["error"] == missing.json()["error"]
    assign = client.post(
        f"{API}/tasks/{acme.task}/assign",
        json={"assignee": "reviewer@globex.test"},
        headers=_auth(acme.admin),
    )
    assert assign.status_code == 422 and assign.json()["field"] == "assignee", assign.text


def test_a_reviewer_with_nothing_of_their_org_waiting_never_takes_another_orgs_task(
    client: TestClient, tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = tenants
    claimed = client.post(f"{API}/reviews/claim", headers=_auth(acme.reviewer))
    assert claimed.status_code == 200 and claimed.json()["id"] == acme.task, claimed.text
    decided = client.post(
        f"{API}/tasks/{acme.task}/decision",
        json={"outcome": "approved"},
        headers=_auth(acme.reviewer),
    )
    assert decided.status_code == 200, decided.text
    # Only globex's task is waiting now: acme's reviewer is told nothing is.
    nothing = client.post(f"{API}/reviews/claim", headers=_auth(acme.reviewer))
    assert nothing.status_code == 204, nothing.text
    theirs = client.post(f"{API}/reviews/claim", headers=_auth(globex.reviewer))
    assert theirs.status_code == 200 and theirs.json()["id"] == globex.task, theirs.text
    assert theirs.json()["assignee_id"] is not None


def test_metrics_count_only_the_callers_org(
    client: TestClient, keys: Keys, tenants: tuple[Tenant, Tenant]
) -> None:
    acme, _ = tenants
    own = client.get(f"{API}/metrics/summary", headers=_auth(acme.admin))
    assert own.status_code == 200, own.text
    assert own.json()["items_received"] == 1, own.json()
    assert own.json()["queue"]["depth"] == 1
    everything = client.get(f"{API}/metrics/summary", headers=keys.auth(keys.admin)).json()
    assert everything["items_received"] == 2 and everything["queue"]["depth"] == 2
    foreign = client.get(f"{API}/metrics/summary?workflow=globex-docs", headers=_auth(acme.admin))
    assert foreign.status_code == 404


def test_groups_stay_in_their_org(client: TestClient, tenants: tuple[Tenant, Tenant]) -> None:
    acme, globex = tenants
    made = client.post(
        f"{API}/groups/acme-leads/members",
        json={"members": ["reviewer@acme.test"]},
        headers=_auth(acme.admin),
    )
    assert made.status_code == 200, made.text
    stranger = client.post(
        f"{API}/groups/acme-leads/members",
        json={"members": ["reviewer@globex.test"]},
        headers=_auth(acme.admin),
    )
    assert stranger.status_code == 404 and stranger.json()["error"] == "user_not_found"
    assert client.get(f"{API}/groups/acme-leads", headers=_auth(globex.admin)).status_code == 404
    listed = client.get(f"{API}/groups", headers=_auth(globex.admin)).json()["groups"]
    assert listed == []
    taken = client.post(
        f"{API}/groups/acme-leads/members",
        json={"members": ["reviewer@globex.test"]},
        headers=_auth(globex.admin),
    )
    assert taken.status_code == 422 and taken.json()["field"] == "name"


def test_an_org_admin_manages_only_their_orgs_users_and_keys_in_the_ui(
    client: TestClient, ctx: Context, keys: Keys, tenants: tuple[Tenant, Tenant]
) -> None:
    csrf = sign_in(client, "admin@acme.test", "acme-admin-pass-1")
    page = client.get("/ui/admin/users", headers=HTML).text
    assert "reviewer@acme.test" in page
    assert "globex" not in page and "admin@example.com" not in page
    keys_page = client.get("/ui/admin/keys", headers=HTML).text
    assert "globex" not in keys_page
    workflows_page = client.get("/ui/admin/workflows", headers=HTML).text
    assert "acme-docs" in workflows_page and "globex-docs" not in workflows_page
    assert client.get("/ui/admin/workflows/globex-docs", headers=HTML).status_code == 404
    globex_user = next(u for u in users.list_users(ctx) if u.email == "reviewer@globex.test")
    demote = client.post(
        f"/ui/admin/users/{globex_user.id}",
        data={"role": "auditor", "active": "1", "csrf_token": csrf},
        headers=HTML,
    )
    assert demote.status_code == 404
    globex_keys = [k.id for k in users.list_keys(ctx) if k.org_id != tenants[0].org_id and k.org_id]
    revoke = client.post(
        f"/ui/admin/keys/{globex_keys[0]}/revoke", data={"csrf_token": csrf}, headers=HTML
    )
    assert revoke.status_code == 404
    added = client.post(
        "/ui/admin/users",
        data={"email": "new@acme.test", "role": "reviewer", "csrf_token": csrf},
        headers=HTML,
    )
    assert added.status_code == 200
    new = next(u for u in users.list_users(ctx) if u.email == "new@acme.test")
    assert new.org_id == tenants[0].org_id
    pause = client.post(
        "/ui/admin/workflows/globex-docs/pause",
        data={"mode": "refuse", "csrf_token": csrf},
        headers=HTML,
    )
    assert pause.status_code == 404
    with ctx.sessions() as session:
        revoked = session.execute(
            sa.select(t.api_keys.c.revoked_at).where(t.api_keys.c.id == globex_keys[0])
        ).scalar_one()
        role = session.execute(
            sa.select(t.users.c.role).where(t.users.c.id == globex_user.id)
        ).scalar_one()
        paused = session.execute(
            sa.select(t.workflows.c.paused_mode).where(t.workflows.c.name == "globex-docs")
        ).scalar_one()
    assert (revoked, role, paused) == (None, "reviewer", None)


def test_a_key_over_its_orgs_request_rate_gets_429_with_retry_after(
    client: TestClient, ctx: Context, tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = tenants
    orgs.set_limits(ctx, "acme", {"requests_per_minute": 3})
    _, token = users.create_key(ctx, "limited", None, scopes={Scope.ITEMS}, org_id=acme.org_id)
    answers = [client.get(f"{API}/items", headers=_auth(token)) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # Another org's key (and another key of the same org) has its own count.
    assert client.get(f"{API}/items", headers=_auth(globex.app)).status_code == 200
    assert client.get(f"{API}/items", headers=_auth(acme.app)).status_code == 200


def test_an_orgs_daily_item_quota_refuses_new_items_but_not_replays(
    client: TestClient, ctx: Context, tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = tenants
    orgs.set_limits(ctx, "acme", {"items_per_day": 2})  # one was submitted by the fixture
    url = f"{API}/workflows/{acme.workflow}/items"
    first = client.post(
        url, json={"content": {"n": 1}}, headers={**_auth(acme.app), "Idempotency-Key": "k1"}
    )
    assert first.status_code == 201, first.text
    over = client.post(url, json={"content": {"n": 2}}, headers=_auth(acme.app))
    assert over.status_code == 429, over.text
    assert over.json()["error"] == "quota_exceeded" and over.json()["field"] == "items_per_day"
    assert int(over.headers["retry-after"]) >= 1
    replay = client.post(
        url, json={"content": {"n": 1}}, headers={**_auth(acme.app), "Idempotency-Key": "k1"}
    )
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    other = client.post(
        f"{API}/workflows/{globex.workflow}/items", json={"content": {}}, headers=_auth(globex.app)
    )
    assert other.status_code == 201


def test_an_orgs_open_task_limit_refuses_intake_until_tasks_are_decided(
    client: TestClient, ctx: Context, tenants: tuple[Tenant, Tenant]
) -> None:
    acme, _ = tenants
    orgs.set_limits(ctx, "acme", {"open_tasks": 1})
    url = f"{API}/workflows/{acme.workflow}/items"
    over = client.post(url, json={"content": {}}, headers=_auth(acme.app))
    assert over.status_code == 429 and over.json()["field"] == "open_tasks", over.text
    claimed = client.post(f"{API}/reviews/claim", headers=_auth(acme.reviewer)).json()
    decided = client.post(
        f"{API}/tasks/{claimed['id']}/decision",
        json={"outcome": "approved"},
        headers=_auth(acme.reviewer),
    )
    assert decided.status_code == 200, decided.text
    assert client.post(url, json={"content": {}}, headers=_auth(acme.app)).status_code == 201


def test_org_limits_are_validated_and_org_names_checked(ctx: Context) -> None:
    from signoff.domain import errors

    with pytest.raises(errors.ValidationFailed, match="org"):
        orgs.add_org(ctx, "Not A Name")
    orgs.add_org(ctx, "initech")
    with pytest.raises(errors.ValidationFailed, match="already exists"):
        orgs.add_org(ctx, "initech")
    with pytest.raises(errors.ValidationFailed, match="items_per_day"):
        orgs.set_limits(ctx, "initech", {"items_per_day": -1})
    with pytest.raises(errors.NotFound, match="no org"):
        orgs.set_limits(ctx, "nobody", {"open_tasks": 3})


def test_assignment_never_hands_a_task_to_a_member_of_another_org(
    client: TestClient, ctx: Context, tenants: tuple[Tenant, Tenant]
) -> None:
    """A workflow naming another org's group: the task stays in its own org's pool."""
    acme, globex = tenants
    assert (
        client.post(
            f"{API}/groups/globex-team/members",
            json={"members": ["reviewer@globex.test"]},
            headers=_auth(globex.admin),
        ).status_code
        == 200
    )
    spec = _workflow("acme-routed").replace(
        "review: {outcomes: [approved, rejected]}",
        "review:\n  outcomes: [approved, rejected]\n"
        "  assignment: {strategy: round_robin, group: globex-team}",
    )
    put = client.put(f"{API}/workflows/acme-routed", content=spec, headers=_auth(acme.admin))
    assert put.status_code == 201, put.text
    item = client.post(
        f"{API}/workflows/acme-routed/items",
        json={"content": {"label": "contract", "confidence": 0.99}},
        headers=_auth(acme.app),
    )
    assert item.status_code == 201
    processing.process_batch(ctx, "test", processing.ProviderCache(ctx), 100)
    with ctx.sessions() as session:
        assignee = session.execute(
            sa.select(t.review_tasks.c.assignee_id).where(
                t.review_tasks.c.item_id == item.json()["id"]
            )
        ).scalar_one()
    assert assignee is None
    mine = client.get(f"{API}/items/{item.json()['id']}", headers=_auth(globex.reviewer))
    assert mine.status_code == 404


def _rows(ctx: Context, table: sa.Table) -> list[Any]:
    with ctx.sessions() as session:
        return list(session.execute(sa.select(table)))


def test_the_live_queue_stream_and_the_queue_page_show_only_the_orgs_tasks(
    client: TestClient, ctx: Context, tenants: tuple[Tenant, Tenant]
) -> None:
    from signoff.ui import stream

    acme, globex = tenants
    reviewer = next(u for u in users.list_users(ctx) if u.email == "reviewer@acme.test")
    principal = users.principal_for_user(ctx, reviewer.id)
    assert principal is not None
    message, _ = stream._message(ctx, principal, 0)
    assert [task["task_id"] for task in message["new_tasks"]] == [acme.task]
    assert "globex" not in str(message)
    sign_in(client, "reviewer@acme.test", "acme-review-pass-1")
    page = client.get("/ui/queue", headers=HTML).text
    assert "acme-docs" in page and "globex" not in page
    assert client.get(f"/ui/items/{globex.item}", headers=HTML).status_code == 404


def test_a_platform_admin_sees_every_orgs_users_and_keys_with_their_org(
    client: TestClient, keys: Keys, tenants: tuple[Tenant, Tenant]
) -> None:
    sign_in(client, "admin@example.com", "admin-password-1")
    page = client.get("/ui/admin/users", headers=HTML).text
    assert "<th>Org</th>" in page
    assert "reviewer@acme.test" in page and "reviewer@globex.test" in page
    assert ">acme<" in page and ">globex<" in page and ">platform<" in page
    keys_page = client.get("/ui/admin/keys", headers=HTML).text
    assert ">acme<" in keys_page and ">globex<" in keys_page
