"""API key scopes and workflow restrictions, tried on every REST route."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.clock import FrozenClock
from signoff.domain.access import Scope
from signoff.services import processing, users
from signoff.services.context import Context, create_context
from signoff.settings import Settings
from signoff.storage import tables as t
from tests.conftest import FAKE_WORKFLOW, Keys

API = "/api/v1"


def _workflow(name: str) -> str:
    return FAKE_WORKFLOW.replace("name: docs", f"name: {name}")


@pytest.fixture
def two_workflows(client: TestClient, keys: Keys, ctx: Context) -> dict[str, Any]:
    """Workflows alpha and beta, each with an item waiting for review (so a task exists)."""
    out: dict[str, Any] = {}
    for name in ("alpha", "beta"):
        put = client.put(
            f"{API}/workflows/{name}", content=_workflow(name), headers=keys.auth(keys.admin)
        )
        assert put.status_code == 201, put.text
        item = client.post(
            f"{API}/workflows/{name}/items",
            json={"content": {"label": "invoice", "confidence": 0.5}},
            headers=keys.auth(keys.admin),
        )
        assert item.status_code == 201, item.text
        out[name] = item.json()
    processing.process_batch(ctx, "w", processing.ProviderCache(ctx), 100)
    with ctx.sessions() as session:
        out["beta_task"] = session.execute(
            sa.select(t.review_tasks.c.id).where(t.review_tasks.c.item_id == out["beta"]["id"])
        ).scalar_one()
    return out


@pytest.fixture
def submitter(ctx: Context, two_workflows: dict[str, Any]) -> dict[str, str]:
    """A service key with scope items, kept to workflow alpha."""
    _, token = users.create_key(ctx, "alpha-app", None, scopes={Scope.ITEMS}, workflows=["alpha"])
    return {"Authorization": f"Bearer {token}"}


def test_submit_only_key_cannot_touch_workflows_reviews_metrics_or_admin_pages(
    client: TestClient, submitter: dict[str, str], two_workflows: dict[str, Any]
) -> None:
    task = two_workflows["beta_task"]
    refused = [
        ("PUT", f"{API}/workflows/alpha", _workflow("alpha").replace("0.85", "0.9")),
        ("PUT", f"{API}/workflows/gamma", _workflow("gamma")),
        ("GET", f"{API}/workflows", None),
        ("GET", f"{API}/workflows/alpha", None),
        ("GET", f"{API}/workflows/alpha/versions", None),
        ("GET", f"{API}/workflows/alpha/calibration", None),
        ("POST", f"{API}/reviews/claim", None),
        ("GET", f"{API}/tasks/{task}", None),
        ("POST", f"{API}/tasks/{task}/decision", '{"outcome": "approved"}'),
        ("GET", f"{API}/metrics/summary", None),
        ("GET", f"{API}/metrics/summary?workflow=alpha", None),
    ]
    for method, url, body in refused:
        headers = {**submitter, "Content-Type": "application/json"}
        response = client.request(method, url, content=body, headers=headers)
        assert response.status_code == 403, (method, url, response.text)
        assert response.json()["error"] == "forbidden"
        assert "scope" in response.json()["detail"], response.text
    # Users and keys are managed on the admin pages, which a key never opens.
    for url in ("/ui/admin/users", "/ui/admin/keys", "/ui/admin/workflows"):
        page = client.get(url, headers=submitter, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/ui/login")
    for url in ("/ui/admin/users", "/ui/admin/keys"):
        post = client.post(url, data={"name": "x", "email": "x@example.com"}, headers=submitter)
        assert post.status_code == 403
    # Nothing changed: alpha is still at version 1, gamma does not exist, the task is open.
    with client.app.state.ctx.sessions() as session:
        versions = session.execute(
            sa.select(t.workflows.c.name, t.workflows.c.current_version)
        ).all()
        status = session.execute(
            sa.select(t.review_tasks.c.status).where(t.review_tasks.c.id == task)
        ).scalar_one()
    assert sorted(versions) == [("alpha", 1), ("beta", 1)]
    assert status != "decided"
    assert len(users.list_keys(client.app.state.ctx)) == 6


# What each service-key scope may call (docs/security.md, "Who may call what"); every
# other operation of the OpenAPI document must refuse it.
SCOPE_ALLOWS = {
    Scope.ITEMS: {
        ("POST", "/api/v1/workflows/{name}/items"),
        ("POST", "/api/v1/workflows/{name}/items/batch"),
        ("GET", "/api/v1/items"),
        ("GET", "/api/v1/items/{item_id}"),
        ("GET", "/api/v1/items/{item_id}/wait"),
        ("GET", "/api/v1/items/{item_id}/events"),
        ("POST", "/api/v1/items/{item_id}/cancel"),
    },
    Scope.WORKFLOWS: {
        ("PUT", "/api/v1/workflows/{name}"),
        ("GET", "/api/v1/workflows"),
        ("GET", "/api/v1/workflows/{name}"),
        ("GET", "/api/v1/workflows/{name}/versions"),
        ("GET", "/api/v1/workflows/{name}/calibration"),
    },
}


@pytest.mark.parametrize("scope", [Scope.ITEMS, Scope.WORKFLOWS])
def test_every_operation_outside_a_keys_scope_is_refused(
    client: TestClient, ctx: Context, two_workflows: dict[str, Any], scope: Scope
) -> None:
    _, token = users.create_key(ctx, f"only-{scope.value}", None, scopes={scope})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    values = {
        "name": "alpha",
        "item_id": str(two_workflows["alpha"]["id"]),
        "task_id": str(two_workflows["beta_task"]),
        "email": "reviewer@example.com",
    }
    spec = client.get("/openapi.json").json()
    operations = [
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method in ops
        if path.startswith(f"{API}/")
    ]
    refused = [op for op in operations if op not in SCOPE_ALLOWS[scope]]
    assert len(refused) >= 15 and len(operations) - len(refused) == len(SCOPE_ALLOWS[scope])
    for method, path in refused:
        url = path.format(**values)
        response = client.request(method, url, content="{}", headers=headers)
        assert response.status_code == 403, (method, path, response.text)
        body = response.json()
        assert body["error"] == "forbidden", (method, path, body)
        assert f"this key has scope {scope.value}" in body["detail"], (method, path, body)
    # Nothing a refused call could have changed did: alpha's item is still waiting.
    item = client.get(f"{API}/items/{values['item_id']}", headers=_admin(client)).json()
    assert item["state"] == "in_review" and not item.get("legal_hold")


def _admin(client: TestClient) -> dict[str, str]:
    _, token = users.create_key(client.app.state.ctx, "check", None, scopes={Scope.ADMIN})
    return {"Authorization": f"Bearer {token}"}


def _missing_item_body(client: TestClient, headers: dict[str, str], path: str, item_id: int) -> Any:
    """The answer for an item id that does not exist, written as if it were `item_id`."""
    missing = 10_000_000
    response = client.request(
        "POST" if path.endswith("cancel") else "GET",
        f"{API}/items/{missing}{path}",
        headers=headers,
    )
    assert response.status_code == 404
    return response.json() | {
        "item_id": item_id,
        "detail": response.json()["detail"].replace(str(missing), str(item_id)),
    }


def test_key_kept_to_one_workflow_gets_for_another_the_answer_a_missing_one_gets(
    client: TestClient, keys: Keys, submitter: dict[str, str], two_workflows: dict[str, Any]
) -> None:
    for suffix, body in (
        ("items", {"content": {"text": "x"}}),
        ("items/batch", {"items": [{"content": {"text": "x"}}]}),
    ):
        other = client.post(f"{API}/workflows/beta/{suffix}", json=body, headers=submitter)
        missing = client.post(f"{API}/workflows/nosuch/{suffix}", json=body, headers=submitter)
        assert other.status_code == missing.status_code == 404
        assert other.json() == missing.json() | {"detail": "no workflow named 'beta'"}
    other_list = client.get(f"{API}/items", params={"workflow": "beta"}, headers=submitter)
    missing_list = client.get(f"{API}/items", params={"workflow": "nosuch"}, headers=submitter)
    assert other_list.status_code == missing_list.status_code == 404
    assert other_list.json() == missing_list.json() | {"detail": "no workflow named 'beta'"}

    beta_item = two_workflows["beta"]["id"]
    for path in ("", "/wait?timeout=0", "/events", "/cancel"):
        method = "POST" if path == "/cancel" else "GET"
        response = client.request(method, f"{API}/items/{beta_item}{path}", headers=submitter)
        assert response.status_code == 404, (path, response.text)
        assert response.json() == _missing_item_body(
            client, submitter, path.split("?")[0], beta_item
        )
    listed = client.get(f"{API}/items", headers=submitter).json()["items"]
    assert {i["workflow"] for i in listed} == {"alpha"}
    # Beta's item was not cancelled, and beta got no new items.
    admin_view = client.get(
        f"{API}/items", params={"workflow": "beta"}, headers=keys.auth(keys.admin)
    )
    assert [(i["id"], i["state"]) for i in admin_view.json()["items"]] == [(beta_item, "in_review")]


def test_submit_only_key_does_everything_an_application_needs_on_its_workflow(
    client: TestClient, submitter: dict[str, str], two_workflows: dict[str, Any]
) -> None:
    created = client.post(
        f"{API}/workflows/alpha/items", json={"content": {"text": "hello"}}, headers=submitter
    )
    assert created.status_code == 201, created.text
    item = created.json()["id"]
    batch = client.post(
        f"{API}/workflows/alpha/items/batch",
        json={"items": [{"content": {"text": "more"}}]},
        headers=submitter,
    )
    assert batch.status_code == 201
    assert client.get(f"{API}/items/{item}", headers=submitter).json()["workflow"] == "alpha"
    assert (
        client.get(f"{API}/items", params={"workflow": "alpha"}, headers=submitter).status_code
        == 200
    )
    assert client.get(f"{API}/items/{item}/wait", params={"timeout": 0}, headers=submitter).json()[
        "timed_out"
    ]
    assert client.get(f"{API}/items/{item}/events", headers=submitter).status_code == 200
    cancelled = client.post(
        f"{API}/items/{item}/cancel", json={"reason": "test"}, headers=submitter
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"


def test_workflows_key_manages_workflows_but_not_items(
    client: TestClient, ctx: Context, keys: Keys
) -> None:
    _, token = users.create_key(ctx, "ops", None, scopes={Scope.WORKFLOWS})
    ops = {"Authorization": f"Bearer {token}"}
    assert (
        client.put(f"{API}/workflows/ops", content=_workflow("ops"), headers=ops).status_code == 201
    )
    assert client.get(f"{API}/workflows/ops/versions", headers=ops).status_code == 200
    assert client.get(f"{API}/workflows/ops/calibration", headers=ops).status_code == 200
    submit = client.post(f"{API}/workflows/ops/items", json={"content": {}}, headers=ops)
    assert submit.status_code == 403
    assert submit.json()["detail"] == "this needs scope items; this key has scope workflows"
    assert client.get(f"{API}/items", headers=ops).status_code == 403
    assert client.get(f"{API}/metrics/summary", headers=ops).status_code == 403


def test_new_service_keys_default_to_the_items_scope(client: TestClient, ctx: Context) -> None:
    _, token = users.create_key(ctx, "default", None)
    headers = {"Authorization": f"Bearer {token}"}
    put = client.put(f"{API}/workflows/x", content=_workflow("x"), headers=headers)
    assert put.status_code == 403
    assert put.json()["detail"] == "this needs scope workflows; this key has scope items"
    assert [users.key_powers(k) for k in users.list_keys(ctx)] == ["scope items"]


def test_admin_scoped_key_does_what_an_admin_does(
    client: TestClient, ctx: Context, keys: Keys
) -> None:
    _, token = users.create_key(ctx, "root", None, scopes={Scope.ADMIN})
    headers = {"Authorization": f"Bearer {token}"}
    assert (
        client.put(f"{API}/workflows/x", content=_workflow("x"), headers=headers).status_code == 201
    )
    assert (
        client.post(f"{API}/workflows/x/items", json={"content": {}}, headers=headers).status_code
        == 201
    )
    assert client.get(f"{API}/metrics/summary", headers=headers).status_code == 200


def test_personal_key_acts_with_its_users_role_and_may_be_kept_to_a_workflow(
    client: TestClient, ctx: Context, keys: Keys, two_workflows: dict[str, Any]
) -> None:
    _, token = users.create_key(ctx, "rev-alpha", "reviewer@example.com", workflows=["alpha"])
    headers = {"Authorization": f"Bearer {token}"}
    assert (
        client.put(
            f"{API}/workflows/alpha", content=_workflow("alpha"), headers=headers
        ).status_code
        == 403
    )
    claimed = client.post(f"{API}/reviews/claim", headers=headers)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["item"]["workflow"] == "alpha"
    beta = client.post(f"{API}/reviews/claim", json={"workflow": "beta"}, headers=headers)
    missing = client.post(f"{API}/reviews/claim", json={"workflow": "nosuch"}, headers=headers)
    assert beta.status_code == missing.status_code == 404
    assert beta.json()["error"] == missing.json()["error"] == "workflow_not_found"
    with pytest.raises(Exception, match="personal key acts with its user's role"):
        users.create_key(ctx, "bad", "reviewer@example.com", scopes={Scope.ADMIN})


def test_last_used_is_written_at_most_once_a_minute_per_key(settings: Settings) -> None:
    clock = FrozenClock()
    ctx = create_context(settings, clock=clock)
    try:
        key_id, token = users.create_key(ctx, "app", None)
        headers = {"Authorization": f"Bearer {token}"}

        def last_used() -> Any:
            return next(k.last_used_at for k in users.list_keys(ctx) if k.id == key_id)

        with TestClient(create_app(ctx=ctx)) as client:
            assert last_used() is None
            assert client.get(f"{API}/items", headers=headers).status_code == 200
            first = last_used()
            assert first == clock.now()
            clock.advance(seconds=30)
            assert client.get(f"{API}/items", headers=headers).status_code == 200
            assert last_used() == first
            clock.advance(seconds=31)
            assert client.get(f"{API}/items", headers=headers).status_code == 200
            assert last_used() == first + timedelta(seconds=61)
    finally:
        ctx.close()


def test_admin_keys_page_shows_scopes_workflows_and_last_use(
    client: TestClient, ctx: Context, keys: Keys, submitter: dict[str, str]
) -> None:
    assert client.get(f"{API}/items", headers=submitter).status_code == 200
    page = _signed_in_admin(client).get("/ui/admin/keys")
    assert page.status_code == 200
    row = next(line for line in page.text.split("<tr") if "alpha-app" in line)
    assert "scope items" in row and "alpha" in row and "never" not in row
    service_row = next(line for line in page.text.split("<tr") if "<td>service</td>" in line)
    assert "scope items" in service_row and "never" in service_row
    admin_row = next(line for line in page.text.split("<tr") if "<td>admin</td>" in line)
    assert "role admin" in admin_row


def test_admin_creates_a_scoped_key_on_the_keys_page(
    client: TestClient, ctx: Context, keys: Keys, two_workflows: dict[str, Any]
) -> None:
    admin = _signed_in_admin(client)
    token = _csrf(admin.get("/ui/admin/keys").text)
    created = admin.post(
        "/ui/admin/keys",
        data={
            "name": "ops",
            "email": "",
            "scope": ["workflows", "items"],
            "workflow": ["beta"],
            "csrf_token": token,
        },
    )
    assert created.status_code == 200, created.text
    row = next(k for k in users.list_keys(ctx) if k.name == "ops")
    assert row.scopes == ["items", "workflows"] and row.workflows == ["beta"]
    bad = admin.post("/ui/admin/keys", data={"name": "bad", "scope": "root", "csrf_token": token})
    assert bad.status_code == 422
    assert "unknown scope" in bad.text
    assert not any(k.name == "bad" for k in users.list_keys(ctx))


def _csrf(html: str) -> str:
    marker = 'name="csrf_token" value="'
    return html.split(marker, 1)[1].split('"', 1)[0]


def _signed_in_admin(client: TestClient) -> TestClient:
    token = _csrf(client.get("/ui/login").text)
    response = client.post(
        "/ui/login",
        data={"email": "admin@example.com", "password": "admin-password-1", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def test_admin_adding_a_user_with_a_weak_password_sees_why_and_nobody_is_added(
    client: TestClient, ctx: Context, keys: Keys
) -> None:
    admin = _signed_in_admin(client)
    token = _csrf(admin.get("/ui/admin/users").text)
    form = {"email": "new@example.com", "role": "reviewer", "csrf_token": token}
    refused = admin.post("/ui/admin/users", data={**form, "password": "short"})
    assert "password: use at least 12 characters" in refused.text
    assert not any(u.email == "new@example.com" for u in users.list_users(ctx))
    added = admin.post("/ui/admin/users", data={**form, "password": "a-fine-long-password"})
    assert "Added new@example.com" in added.text


def test_a_group_name_is_not_taken_for_a_workflow_name_by_a_key_kept_to_workflows(
    client: TestClient, ctx: Context, two_workflows: dict[str, Any]
) -> None:
    _, token = users.create_key(ctx, "ops-alpha", None, scopes={Scope.ADMIN}, workflows=["alpha"])
    headers = {"Authorization": f"Bearer {token}"}
    added = client.post(
        f"{API}/groups/leads/members", json={"members": ["reviewer@example.com"]}, headers=headers
    )
    assert added.status_code == 200, added.text
    group = client.get(f"{API}/groups/leads", headers=headers)
    assert group.status_code == 200, group.text
    assert [m["email"] for m in group.json()["members"]] == ["reviewer@example.com"]
