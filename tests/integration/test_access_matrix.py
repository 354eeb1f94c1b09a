"""The access matrix: every route × method × caller × own or other org, from the route table.

Each route the app serves must have a row in EXPECTED naming who may use it on their own
org's objects; a new route without one fails the test. Every request that EXPECTED does not
allow must be refused (no 2xx, no redirect other than to the sign-in page), and nobody but a
platform admin succeeds on another org's workflow, item, task, group, user or key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from starlette.routing import Route

from signoff.domain.access import Scope
from signoff.domain.states import Role
from signoff.services import groups, orgs, processing, users
from signoff.services.context import Context
from signoff.storage import tables as t
from tests.conftest import FAKE_WORKFLOW
from tests.integration.test_ui_security import sign_in

ANON, BAD_KEY = "anonymous", "bad key"
K_ITEMS, K_WORKFLOWS, K_ADMIN = "items key", "workflows key", "admin key"
REVIEWER, AUDITOR, ORG_ADMIN, PLATFORM = "reviewer", "auditor", "org admin", "platform admin"
KEYS = {K_ITEMS, K_WORKFLOWS, K_ADMIN}
PEOPLE = {REVIEWER, AUDITOR, ORG_ADMIN, PLATFORM}
EVERYONE = {ANON, BAD_KEY} | KEYS | PEOPLE

# Who may use a route on their own org's objects. API routes take keys and people (people by
# their personal keys); UI routes take people by their web session.
ADMINS = {K_ADMIN, ORG_ADMIN, PLATFORM}
ITEM_WRITERS = {K_ITEMS} | ADMINS
ITEM_READERS = {K_ITEMS, REVIEWER, AUDITOR} | ADMINS
WORKFLOW_WRITERS = {K_WORKFLOWS} | ADMINS
WORKFLOW_READERS = {K_WORKFLOWS, REVIEWER, AUDITOR} | ADMINS
REVIEWERS = {REVIEWER} | ADMINS
OVERSEERS = {AUDITOR} | ADMINS
UI_ADMINS = {ORG_ADMIN, PLATFORM}
UI_REVIEWERS = {REVIEWER, ORG_ADMIN, PLATFORM}
UI_OVERSEERS = {AUDITOR, ORG_ADMIN, PLATFORM}

EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", "/openapi.json"): EVERYONE,
    ("GET", "/docs"): EVERYONE,
    ("GET", "/docs/oauth2-redirect"): EVERYONE,
    ("GET", "/redoc"): EVERYONE,
    ("GET", "/healthz"): EVERYONE,
    ("GET", "/readyz"): EVERYONE,
    ("GET", "/"): EVERYONE,  # a redirect to the UI
    # Prometheus: open unless SIGNOFF_METRICS_TOKEN is set (tested in test_metrics_token_*).
    ("GET", "/metrics"): EVERYONE,
    ("PUT", "/api/v1/workflows/{name}"): WORKFLOW_WRITERS,
    ("GET", "/api/v1/workflows"): WORKFLOW_READERS,
    ("GET", "/api/v1/workflows/{name}"): WORKFLOW_READERS,
    ("GET", "/api/v1/workflows/{name}/versions"): WORKFLOW_WRITERS,
    ("GET", "/api/v1/workflows/{name}/calibration"): WORKFLOW_READERS,
    ("POST", "/api/v1/workflows/{name}/items"): ITEM_WRITERS,
    ("POST", "/api/v1/workflows/{name}/items/batch"): ITEM_WRITERS,
    ("GET", "/api/v1/workflows/{name}/decisions/export"): OVERSEERS,
    ("POST", "/api/v1/workflows/{name}/pause"): ADMINS,
    ("POST", "/api/v1/workflows/{name}/resume"): ADMINS,
    ("POST", "/api/v1/workflows/{name}/gold"): ADMINS,
    ("GET", "/api/v1/items"): ITEM_READERS,
    ("GET", "/api/v1/items/{item_id}"): ITEM_READERS,
    ("GET", "/api/v1/items/{item_id}/wait"): ITEM_READERS,
    ("GET", "/api/v1/items/{item_id}/events"): ITEM_READERS,
    ("GET", "/api/v1/items/{item_id}/record"): OVERSEERS,
    ("POST", "/api/v1/items/{item_id}/cancel"): ITEM_WRITERS,
    ("POST", "/api/v1/items/{item_id}/archive"): ADMINS,
    ("POST", "/api/v1/items/{item_id}/hold"): ADMINS,
    ("DELETE", "/api/v1/items/{item_id}/hold"): ADMINS,
    ("POST", "/api/v1/reviews/claim"): REVIEWERS,
    ("POST", "/api/v1/tasks/{task_id}/claim"): REVIEWERS,
    ("GET", "/api/v1/tasks/{task_id}"): REVIEWERS,
    ("POST", "/api/v1/tasks/{task_id}/decision"): REVIEWERS,
    ("POST", "/api/v1/tasks/{task_id}/assign"): ADMINS,
    ("GET", "/api/v1/groups"): ADMINS,
    ("GET", "/api/v1/groups/{name}"): ADMINS,
    ("POST", "/api/v1/groups/{name}/members"): ADMINS,
    ("DELETE", "/api/v1/groups/{name}/members/{email}"): ADMINS,
    ("GET", "/api/v1/metrics/summary"): OVERSEERS,
    ("GET", "/ui/login"): EVERYONE,
    ("POST", "/ui/login"): EVERYONE,  # the sign-in form itself
    ("POST", "/ui/logout"): EVERYONE,  # ends the caller's own session, if any
    ("GET", "/ui/"): PEOPLE,
    ("GET", "/ui/queue"): UI_REVIEWERS,
    ("GET", "/ui/my-tasks"): UI_REVIEWERS,
    ("GET", "/ui/stream"): UI_REVIEWERS,
    ("POST", "/ui/review/next"): UI_REVIEWERS,
    ("POST", "/ui/tasks/{task_id}/claim"): UI_REVIEWERS,
    ("POST", "/ui/tasks/{task_id}/skip"): UI_REVIEWERS,
    ("POST", "/ui/tasks/{task_id}/decide"): UI_REVIEWERS,
    ("POST", "/ui/tasks/{task_id}/assign"): UI_ADMINS,
    ("GET", "/ui/items/{item_id}"): PEOPLE,
    ("GET", "/ui/items/{item_id}/record"): UI_OVERSEERS,
    ("GET", "/ui/items"): UI_OVERSEERS,
    ("GET", "/ui/dashboard"): UI_OVERSEERS,
    ("GET", "/ui/admin"): UI_ADMINS,
    ("GET", "/ui/admin/workflows"): UI_ADMINS,
    ("GET", "/ui/admin/workflows/{name}"): UI_ADMINS,
    ("POST", "/ui/admin/workflows/{name}"): UI_ADMINS,
    ("POST", "/ui/admin/workflows/{name}/pause"): UI_ADMINS,
    ("POST", "/ui/admin/workflows/{name}/resume"): UI_ADMINS,
    ("GET", "/ui/admin/users"): UI_ADMINS,
    ("POST", "/ui/admin/users"): UI_ADMINS,
    ("POST", "/ui/admin/users/{user_id}"): UI_ADMINS,
    ("GET", "/ui/admin/keys"): UI_ADMINS,
    ("POST", "/ui/admin/keys"): UI_ADMINS,
    ("POST", "/ui/admin/keys/{key_id}/revoke"): UI_ADMINS,
    # Action links carry their own one-time token (tested in test_action_links).
    ("GET", "/ui/links/{token}"): EVERYONE,
    ("POST", "/ui/links/{token}"): EVERYONE,
    ("GET", "/ui/settings/notifications"): PEOPLE,
    ("POST", "/ui/settings/notifications"): PEOPLE,
}

# The server-sent event stream never ends for a caller it accepts: only refusals are sent.
STREAMS = {("GET", "/ui/stream")}
# Routes whose objects are not an org's (no path parameter, or a one-time token).
UNOWNED_PARAMS = {"token"}
# Routes no caller can complete here without what other tests give them (a valid link token,
# the sign-in form's own token and a password): only their refusals are checked.
NOT_COMPLETED = {
    ("GET", "/ui/links/{token}"),
    ("POST", "/ui/links/{token}"),
    ("POST", "/ui/login"),
}
# The order that lets each change succeed for someone: claim and assign before the skip and
# the decision, the decision before the archive, setting before lifting, sign-out last.
RANK = {
    ("POST", "/api/v1/items/{item_id}/hold"): 1,
    ("DELETE", "/api/v1/items/{item_id}/hold"): 2,
    ("POST", "/api/v1/groups/{name}/members"): 1,
    ("DELETE", "/api/v1/groups/{name}/members/{email}"): 2,
    ("POST", "/api/v1/tasks/{task_id}/assign"): 1,
    ("POST", "/ui/tasks/{task_id}/assign"): 1,
    ("POST", "/api/v1/tasks/{task_id}/claim"): 2,
    ("POST", "/ui/tasks/{task_id}/claim"): 2,
    ("POST", "/ui/tasks/{task_id}/skip"): 3,
    ("POST", "/ui/review/next"): 4,
    ("POST", "/ui/tasks/{task_id}/decide"): 5,
    ("POST", "/api/v1/tasks/{task_id}/decision"): 5,
    ("POST", "/api/v1/items/{item_id}/archive"): 6,
    ("POST", "/ui/logout"): 9,
}


def routes_of(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route the app serves, the UI's static files aside."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from routes_of(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield method, prefix + route.path


@dataclass
class Org:
    name: str
    id: int
    values: dict[str, Any] = field(default_factory=dict)


def _org(ctx: Context, client: TestClient, name: str, admin_key: str) -> Org:
    org = orgs.add_org(ctx, name)
    for role in ("admin", "reviewer", "auditor"):
        users.add_user(
            ctx, f"{role}@{name}.test", Role(role), password=f"{name}-{role}-pw-1", org_id=org.id
        )
    spare = users.add_user(ctx, f"spare@{name}.test", Role.REVIEWER, org_id=org.id)
    spare_key, _ = users.create_key(ctx, "spare", None, org_id=org.id)
    workflow = f"{name}-docs"
    put = client.put(
        f"/api/v1/workflows/{workflow}?org={name}",
        content=FAKE_WORKFLOW.replace("name: docs", f"name: {workflow}"),
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    assert put.status_code == 201, put.text
    item = client.post(
        f"/api/v1/workflows/{workflow}/items",
        json={"content": {"label": "contract", "confidence": 0.99}},
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    assert item.status_code == 201, item.text
    # A second item waiting for review, for the cancel (which closes its task).
    spare_item = client.post(
        f"/api/v1/workflows/{workflow}/items",
        json={"content": {"label": "contract", "confidence": 0.99}},
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    groups.add_members(ctx, f"{name}-leads", [f"reviewer@{name}.test"], org_id=org.id)
    return Org(
        name,
        org.id,
        {
            "workflow": workflow,
            "group": f"{name}-leads",
            "item_id": item.json()["id"],
            "open_item_id": spare_item.json()["id"],
            "user_id": spare,
            "key_id": spare_key,
            "email": f"reviewer@{name}.test",
        },
    )


@dataclass
class Caller:
    name: str
    client: TestClient
    headers: dict[str, str]
    csrf: str | None = None


@pytest.fixture
def world(ctx: Context, client: TestClient, app: Any) -> dict[str, Any]:
    users.add_user(ctx, "platform@example.com", Role.ADMIN, password="platform-admin-pw-1")
    platform_key = users.create_key(ctx, "platform", "platform@example.com")[1]
    acme = _org(ctx, client, "acme", platform_key)
    globex = _org(ctx, client, "globex", platform_key)
    processing.process_batch(ctx, "test", processing.ProviderCache(ctx), 100)
    with ctx.sessions() as session:
        for org in (acme, globex):
            org.values["task_id"] = session.execute(
                sa.select(t.review_tasks.c.id).where(
                    t.review_tasks.c.item_id == org.values["item_id"]
                )
            ).scalar_one()
        assert session.execute(sa.select(sa.func.count()).select_from(t.review_tasks)).scalar() == 4

    def key(name: str, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {users.create_key(ctx, name, **kwargs)[1]}"}

    api: dict[str, dict[str, str]] = {
        ANON: {},
        BAD_KEY: {"Authorization": "Bearer sk_000000000000_not-a-real-key"},
        K_ITEMS: key("items", email=None, scopes={Scope.ITEMS}, org_id=acme.id),
        K_WORKFLOWS: key("wf", email=None, scopes={Scope.WORKFLOWS}, org_id=acme.id),
        K_ADMIN: key("adm", email=None, scopes={Scope.ADMIN}, org_id=acme.id),
        REVIEWER: key("r", email="reviewer@acme.test"),
        AUDITOR: key("a", email="auditor@acme.test"),
        ORG_ADMIN: key("o", email="admin@acme.test"),
        PLATFORM: {"Authorization": f"Bearer {platform_key}"},
    }
    sessions = {
        REVIEWER: ("reviewer@acme.test", "acme-reviewer-pw-1"),
        AUDITOR: ("auditor@acme.test", "acme-auditor-pw-1"),
        ORG_ADMIN: ("admin@acme.test", "acme-admin-pw-1"),
        PLATFORM: ("platform@example.com", "platform-admin-pw-1"),
    }
    callers: dict[str, tuple[Caller, Caller]] = {}
    for name, headers in api.items():
        ui_client = TestClient(app)
        csrf = None
        if name in sessions:
            csrf = sign_in(ui_client, *sessions[name])
        callers[name] = (Caller(name, client, headers), Caller(name, ui_client, {}, csrf))
    return {"acme": acme, "globex": globex, "callers": callers}


def _body(method: str, path: str, values: dict[str, Any]) -> dict[str, Any]:
    """A request body that would succeed for a caller allowed to make it."""
    if method in ("GET", "DELETE"):
        return {}
    workflow_yaml = FAKE_WORKFLOW.replace("name: docs", f"name: {values['workflow']}").replace(
        "0.85", "0.8"
    )
    if path == "/api/v1/workflows/{name}":
        return {"content": workflow_yaml}
    json_bodies = {
        "/api/v1/workflows/{name}/items": {"content": {"label": "invoice", "confidence": 0.5}},
        "/api/v1/workflows/{name}/items/batch": {"items": [{"content": {"label": "invoice"}}]},
        "/api/v1/workflows/{name}/pause": {"mode": "refuse"},
        "/api/v1/tasks/{task_id}/decision": {"outcome": "approved"},
        "/api/v1/tasks/{task_id}/assign": {"assignee": values["email"]},
        "/api/v1/groups/{name}/members": {"members": [values["email"]]},
        "/api/v1/items/{item_id}/hold": {"reason": "matrix"},
        "/api/v1/workflows/{name}/gold": {"items": [{"content": {"n": 1}, "label": "invoice"}]},
    }
    if path.startswith("/api/"):
        return {"json": json_bodies.get(path, {})}
    forms = {
        "/ui/tasks/{task_id}/decide": {"outcome": "approved"},
        "/ui/tasks/{task_id}/assign": {"assignee": values["email"]},
        "/ui/admin/workflows/{name}": {"source": workflow_yaml},
        "/ui/admin/workflows/{name}/pause": {"mode": "refuse"},
        "/ui/admin/users": {"email": "new-{n}@acme.test", "role": "reviewer"},
        "/ui/admin/users/{user_id}": {"role": "auditor", "active": "1"},
        "/ui/admin/keys": {"name": "made-in-matrix"},
        "/ui/settings/notifications": {"digest": "off"},
    }
    return {"data": forms.get(path, {})}


def _fill(path: str, values: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        param = match.group(1)
        if param == "name":
            return str(values["group" if "/groups/" in path else "workflow"])
        if param == "token":
            return "not-a-link-token"
        return str(values[param])

    if path.endswith("/cancel"):
        values = {**values, "item_id": values["open_item_id"]}
    concrete = re.sub(r"\{(\w+)\}", value, path)
    if path.endswith("/wait"):
        concrete += "?timeout=0"
    return concrete


def _succeeded(response: Any, path: str) -> bool:
    if 200 <= response.status_code < 300:
        return True
    if 300 <= response.status_code < 400:
        # Signing out ends on the sign-in page; anything else sent there was refused.
        sign_in_page = response.headers.get("location", "").startswith("/ui/login")
        return path == "/ui/logout" or not sign_in_page
    return False


def _send(caller: Caller, method: str, path: str, values: dict[str, Any], n: int) -> Any:
    kwargs = _body(method, path, values)
    if "data" in kwargs:
        kwargs["data"] = {k: v.replace("{n}", str(n)) for k, v in kwargs["data"].items()}
        if caller.csrf is not None:
            kwargs["data"]["csrf_token"] = caller.csrf
    return caller.client.request(
        method,
        _fill(path, values),
        headers={**caller.headers, "accept": "application/json"},
        follow_redirects=False,
        **kwargs,
    )


def test_every_route_has_a_row_in_the_access_matrix(app: Any) -> None:
    served = set(routes_of(app.routes))
    assert served - set(EXPECTED) == set(), "routes without a row in EXPECTED"
    assert set(EXPECTED) - served == set(), "rows in EXPECTED for routes that are gone"


def test_no_caller_gets_past_the_matrix_on_any_route_of_either_org(
    app: Any, world: dict[str, Any]
) -> None:
    acme, globex = world["acme"], world["globex"]
    # Sign-out last, so every other request runs with a live session.
    order = sorted(set(routes_of(app.routes)), key=lambda r: (RANK.get(r, 0), r[1], r[0]))
    unexpected: list[str] = []
    allowed_worked: set[tuple[str, str]] = set()
    n = 0
    for method, path in order:
        allowed = EXPECTED[(method, path)]
        params = set(re.findall(r"\{(\w+)\}", path))
        for name, (api_caller, ui_caller) in world["callers"].items():
            caller = api_caller if not path.startswith("/ui") else ui_caller
            targets = [("own", acme)]
            if params and not params <= UNOWNED_PARAMS:
                targets.append(("other", globex))
            for whose, org in targets:
                may = name in allowed and (whose == "own" or name == PLATFORM)
                if (method, path) in STREAMS and may:
                    continue
                n += 1
                response = _send(caller, method, path, org.values, n)
                assert response.status_code != 500, (method, path, name, response.text)
                if _succeeded(response, path):
                    if may:
                        allowed_worked.add((method, path))
                    else:
                        unexpected.append(
                            f"{method} {path} as {name} on {whose} org: {response.status_code}"
                        )
    assert unexpected == []
    # The matrix is live: nearly every route worked for someone allowed to use it.
    never = set(EXPECTED) - allowed_worked - STREAMS - NOT_COMPLETED
    assert never == set(), never


def test_callers_cannot_set_fields_they_do_not_own(
    client: TestClient, world: dict[str, Any]
) -> None:
    """Mass assignment: fields a caller may not set are refused, not ignored."""
    acme = world["acme"].values
    app_key = world["callers"][K_ITEMS][0].headers
    reviewer = world["callers"][REVIEWER][0].headers
    item = client.post(
        f"/api/v1/workflows/{acme['workflow']}/items",
        json={"content": {}, "state": "approved", "workflow": "globex-docs"},
        headers=app_key,
    )
    assert item.status_code == 422, item.text
    decision = client.post(
        f"/api/v1/tasks/{acme['task_id']}/decision",
        json={"outcome": "approved", "assignee_id": 1, "reviewer": "someone@else.test"},
        headers=reviewer,
    )
    assert decision.status_code == 422, decision.text
    org_admin = world["callers"][ORG_ADMIN][0].headers
    moved = client.put(
        f"/api/v1/workflows/{acme['workflow']}?org=globex",
        content=FAKE_WORKFLOW.replace("name: docs", f"name: {acme['workflow']}"),
        headers=org_admin,
    )
    assert moved.status_code == 403 and moved.json()["field"] == "org"


def test_metrics_token_closes_the_prometheus_endpoint(ctx: Context, db_url: str) -> None:
    from signoff.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(db_url, metrics_token="a-token-for-prometheus-scrapes")
    with TestClient(create_app(settings)) as guarded:
        assert guarded.get("/metrics").status_code == 401
        wrong = guarded.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = guarded.get(
            "/metrics", headers={"Authorization": "Bearer a-token-for-prometheus-scrapes"}
        )
        assert right.status_code == 200 and "signoff_" in right.text
