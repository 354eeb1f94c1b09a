"""UI security: roles on every page, CSRF tokens on every form, escaping, session cookies."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.domain.states import Role
from signoff.services import processing, users
from signoff.services.context import Context, create_context
from tests.conftest import Keys, make_settings

HTML = {"accept": "text/html"}
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
ADMIN_PAGES = [
    "/ui/admin/workflows",
    "/ui/admin/workflows/docs",
    "/ui/admin/users",
    "/ui/admin/keys",
]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client: TestClient, email: str, password: str) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    token = csrf_of(client.get("/ui/login").text)
    response = client.post(
        "/ui/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 200 and "/ui/login" not in str(response.url), response.text
    return csrf_of(client.get("/ui/").text)


def process(ctx: Context) -> None:
    processing.process_batch(ctx, "test", processing.ProviderCache(ctx), 100)


@pytest.fixture
def reviewer(client: TestClient, keys: Keys, docs_workflow: str) -> str:
    return sign_in(client, "reviewer@example.com", "reviewer-password-1")


def test_signed_out_visitor_is_sent_to_sign_in(client: TestClient, keys: Keys) -> None:
    response = client.get("/ui/dashboard?range=7d", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=/ui/dashboard%3Frange%3D7d"
    assert client.get("/ui/stream").status_code == 401


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_reviewer_gets_403_on_admin_pages_even_by_direct_url(
    client: TestClient, reviewer: str, path: str
) -> None:
    response = client.get(path, headers=HTML)
    assert response.status_code == 403
    assert "Not allowed" in response.text and "text/html" in response.headers["content-type"]


def test_reviewer_cannot_use_admin_forms_even_with_a_valid_token(
    client: TestClient, reviewer: str, keys: Keys
) -> None:
    add = client.post(
        "/ui/admin/users",
        data={
            "csrf_token": reviewer,
            "role": "admin",
            "email": "eve@example.com",
            "password": "x" * 12,
        },
    )
    assert add.status_code == 403
    assert (
        client.post("/ui/admin/keys", data={"csrf_token": reviewer, "name": "k"}).status_code == 403
    )
    assert (
        client.post(
            "/ui/admin/users/2", data={"csrf_token": reviewer, "role": "admin", "active": "1"}
        ).status_code
        == 403
    )
    assert all(u.email != "eve@example.com" for u in users.list_users(client.app.state.ctx))


def test_reviewer_sees_only_reviewer_navigation(client: TestClient, reviewer: str) -> None:
    page = client.get("/ui/queue").text
    assert 'href="/ui/queue"' in page
    for hidden in ("/ui/admin/users", "/ui/dashboard", "/ui/items"):
        assert f'href="{hidden}"' not in page
    assert client.get("/ui/dashboard").status_code == 403
    assert client.get("/ui/items").status_code == 403


def test_auditor_reads_but_cannot_review_or_administer(
    client: TestClient, keys: Keys, docs_workflow: str
) -> None:
    token = sign_in(client, "auditor@example.com", "auditor-password-1")
    assert client.get("/ui/dashboard").status_code == 200
    assert client.get("/ui/items").status_code == 200
    assert client.get("/ui/queue").status_code == 403
    assert client.post("/ui/review/next", data={"csrf_token": token}).status_code == 403
    assert client.get("/ui/admin/users").status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/ui/logout",
        "/ui/review/next",
        "/ui/admin/users",
        "/ui/admin/keys",
        "/ui/admin/keys/1/revoke",
    ],
)
def test_form_posts_without_the_csrf_token_are_refused(
    client: TestClient, keys: Keys, docs_workflow: str, path: str
) -> None:
    sign_in(client, "admin@example.com", "admin-password-1")
    missing = client.post(path, data={"name": "k", "email": "x@example.com", "role": "admin"})
    assert missing.status_code == 403
    wrong = client.post(path, data={"csrf_token": "forged", "name": "k"})
    assert wrong.status_code == 403
    assert client.get("/ui/admin/keys").status_code == 200  # still signed in


def test_sign_in_itself_needs_the_csrf_token(client: TestClient, keys: Keys) -> None:
    response = client.post(
        "/ui/login", data={"email": "admin@example.com", "password": "admin-password-1"}
    )
    assert response.status_code == 403
    assert client.get("/ui/admin/users", follow_redirects=False).status_code == 303


def test_a_token_from_another_session_is_refused(app: Any, keys: Keys, docs_workflow: str) -> None:
    with TestClient(app) as alice, TestClient(app) as mallory:
        sign_in(alice, "admin@example.com", "admin-password-1")
        stolen = sign_in(mallory, "reviewer@example.com", "reviewer-password-1")
        response = alice.post("/ui/admin/keys", data={"csrf_token": stolen, "name": "k"})
        assert response.status_code == 403


def test_html_in_documents_labels_comments_and_metadata_is_escaped(
    client: TestClient, keys: Keys, docs_workflow: str, ctx: Context
) -> None:
    content = {
        "text": f"Hello {SCRIPT} and {IMG}",
        "label": IMG,
        "confidence": 0.2,
        "entities": [{"type": "org", "text": IMG}],
    }
    item = client.post(
        "/api/v1/workflows/docs/items",
        headers=keys.auth(keys.admin),
        json={"content": content, "metadata": {"note": SCRIPT}, "external_id": IMG},
    ).json()
    process(ctx)
    token = sign_in(client, "reviewer@example.com", "reviewer-password-1")
    queue = client.get("/ui/queue").text
    page = client.post("/ui/review/next", data={"csrf_token": token}).text
    assert "/ui/tasks/" in page
    decided = client.post(
        re.search(r'action="(/ui/tasks/\d+/decide)"', page).group(1),  # type: ignore[union-attr]
        data={
            "csrf_token": token,
            "outcome": "rejected",
            "label": "invoice",
            "comment": f"see {SCRIPT}",
        },
    )
    assert decided.status_code == 200
    item_page = client.get(f"/ui/items/{item['id']}").text
    admin = TestClient(client.app)
    sign_in(admin, "admin@example.com", "admin-password-1")
    browse = admin.get("/ui/items").text
    for html in (queue, page, item_page, browse):
        assert SCRIPT not in html and IMG not in html
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt; and " in page
    assert 'data-entity="org">&lt;img src=x onerror=alert(1)&gt;</mark>' in page
    assert "see &lt;script&gt;alert(1)&lt;/script&gt;" in item_page
    assert "&lt;img src=x onerror=alert(1)&gt;" in queue and "&lt;img" in browse


def test_ui_pages_carry_a_strict_content_security_policy(client: TestClient, reviewer: str) -> None:
    response = client.get("/ui/queue")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert "<script>" not in response.text.replace('<script src="/ui/static/signoff.js" defer>', "")
    assert client.get("/ui/static/signoff.js").status_code == 200


def test_session_cookie_is_signed_httponly_and_lax(client: TestClient, keys: Keys) -> None:
    token = csrf_of(client.get("/ui/login").text)
    response = client.post(
        "/ui/login",
        follow_redirects=False,
        data={
            "email": "reviewer@example.com",
            "password": "reviewer-password-1",
            "csrf_token": token,
        },
    )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("signoff_session=")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()
    signed = client.cookies["signoff_session"]
    assert client.get("/ui/queue", follow_redirects=False).status_code == 200
    client.cookies.clear()
    forged = signed[:-4] + ("AAAA" if signed[-4:] != "AAAA" else "BBBB")
    client.cookies.set("signoff_session", forged)
    assert client.get("/ui/queue", follow_redirects=False).status_code == 303


def test_session_cookie_is_secure_behind_https(sqlite_url: str) -> None:
    ctx = create_context(make_settings(sqlite_url, public_url="https://signoff.example.com"))
    try:
        users.add_user(ctx, "a@example.com", Role.ADMIN, password="a-password-123")
        with TestClient(create_app(ctx=ctx), base_url="https://testserver") as https:
            token = csrf_of(https.get("/ui/login").text)
            response = https.post(
                "/ui/login",
                follow_redirects=False,
                data={"email": "a@example.com", "password": "a-password-123", "csrf_token": token},
            )
            assert "secure" in response.headers["set-cookie"].lower()
    finally:
        ctx.close()


def test_throttled_sign_in_shows_the_message(client: TestClient, keys: Keys) -> None:
    token = csrf_of(client.get("/ui/login").text)
    for _ in range(5):
        client.post(
            "/ui/login",
            data={"email": "admin@example.com", "password": "nope", "csrf_token": token},
        )
    response = client.post(
        "/ui/login",
        data={"email": "admin@example.com", "password": "admin-password-1", "csrf_token": token},
    )
    assert response.status_code == 429
    assert "too many failed sign-in attempts" in response.text


def test_deactivated_user_loses_the_session(client: TestClient, reviewer: str) -> None:
    ctx = client.app.state.ctx
    user = next(u for u in users.list_users(ctx) if u.email == "reviewer@example.com")
    users.set_role(ctx, user.id, Role.REVIEWER, False, "test", acting_user_id=None)
    assert client.get("/ui/queue", follow_redirects=False).status_code == 303


def test_sign_in_redirects_only_within_the_ui(client: TestClient, keys: Keys) -> None:
    token = csrf_of(client.get("/ui/login").text)
    response = client.post(
        "/ui/login",
        follow_redirects=False,
        data={
            "email": "admin@example.com",
            "password": "admin-password-1",
            "csrf_token": token,
            "next": "//evil.example.com/",
        },
    )
    assert response.headers["location"] == "/ui/queue"


def test_the_session_authenticates_api_reads_but_writes_need_the_csrf_header(
    client: TestClient, reviewer: str, keys: Keys
) -> None:
    assert client.get("/api/v1/workflows").status_code == 200
    assert client.post("/api/v1/reviews/claim").status_code == 401
    claimed = client.post("/api/v1/reviews/claim", headers={"x-csrf-token": reviewer})
    assert claimed.status_code == 204
