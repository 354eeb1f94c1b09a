"""Security headers on every response, HSTS and a Secure session cookie over https."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from signoff.app import create_app
from signoff.domain.states import Role
from signoff.services import users
from signoff.services.context import create_context
from tests.conftest import make_settings

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "a long enough password 7"


def _always(response: Any) -> None:
    headers = response.headers
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("x-frame-options") == "DENY", where
    assert headers.get("referrer-policy") == "same-origin", where
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), where


def _client(sqlite_url: str, public_url: str | None, scheme: str) -> Iterator[TestClient]:
    overrides = {"public_url": public_url} if public_url else {}
    ctx = create_context(make_settings(sqlite_url, **overrides))
    users.add_user(ctx, "rev@example.com", Role.REVIEWER, password=PASSWORD)
    try:
        with TestClient(create_app(ctx=ctx), base_url=f"{scheme}://testserver") as client:
            yield client
    finally:
        ctx.close()


@pytest.fixture
def plain(sqlite_url: str) -> Iterator[TestClient]:
    yield from _client(sqlite_url, None, "http")


@pytest.fixture
def tls(sqlite_url: str) -> Iterator[TestClient]:
    yield from _client(sqlite_url, None, "https")


@pytest.fixture
def behind_https_url(sqlite_url: str) -> Iterator[TestClient]:
    yield from _client(sqlite_url, "https://signoff.example.com", "http")


def _get_paths(routes: list[Any], prefix: str = "") -> Iterator[str]:
    """Every GET route of the app, through included routers."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _get_paths(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, Route) and "GET" in (route.methods or ()):
            yield prefix + route.path


def _sign_in(client: TestClient) -> Any:
    [token] = CSRF_INPUT.findall(client.get("/ui/login").text)
    response = client.post(
        "/ui/login",
        data={"email": "rev@example.com", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response


def test_every_get_route_and_every_kind_of_refusal_carries_the_security_headers(
    plain: TestClient,
) -> None:
    paths = list(_get_paths(plain.app.routes))  # type: ignore[attr-defined]
    assert len(paths) > 20 and "/api/v1/items/{item_id}" in paths, paths
    for path in paths:
        # Path parameters get a value that exists nowhere: the answer is a 404 or 422.
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        _always(plain.get(concrete, follow_redirects=False))
    _always(plain.get("/no/such/route"))
    _always(plain.post("/api/v1/workflows/x/items", json={}))  # 401 without a key
    _always(plain.post("/api/v1/workflows/x/items", content=b"x" * 6_000_000))  # 413
    _always(plain.get("/ui/static/signoff.css"))
    _always(plain.get("/metrics"))


def test_pages_get_the_strict_script_policy_and_api_answers_may_load_nothing(
    plain: TestClient,
) -> None:
    page = plain.get("/ui/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    api = plain.get("/api/v1/items")
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    docs = plain.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-security-policy"] == "frame-ancestors 'none'"


def test_plain_http_gets_no_hsts_and_a_session_cookie_without_secure(plain: TestClient) -> None:
    assert "strict-transport-security" not in plain.get("/healthz").headers
    cookie = _sign_in(plain).headers["set-cookie"]
    assert cookie.startswith("signoff_session=") and "httponly" in cookie.lower()
    assert "secure" not in cookie.lower()


def test_a_request_over_https_gets_hsts_and_a_secure_session_cookie(tls: TestClient) -> None:
    for path in ("/healthz", "/ui/login", "/api/v1/items"):
        response = tls.get(path)
        assert response.headers["strict-transport-security"] == (
            "max-age=63072000; includeSubDomains"
        ), path
    cookie = _sign_in(tls).headers["set-cookie"]
    assert "; secure" in cookie.lower(), cookie
    assert tls.get("/ui/queue", follow_redirects=False).status_code == 200


def test_an_https_public_url_means_hsts_and_secure_cookies_behind_a_tls_proxy(
    behind_https_url: TestClient,
) -> None:
    response = behind_https_url.get("/healthz")
    assert "max-age=" in response.headers["strict-transport-security"]
    # The sign-in page starts the session (its CSRF token); over plain http the client
    # rightly keeps the Secure cookie to itself, so look at what the server set.
    cookie = behind_https_url.get("/ui/login").headers["set-cookie"]
    assert cookie.startswith("signoff_session=") and cookie.lower().count("secure") == 1, cookie
