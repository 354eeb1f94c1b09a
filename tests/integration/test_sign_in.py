"""Signing in: throttling that holds under parallel attempts, and sessions that end on the server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import argon2
import httpx
import pytest
from argon2 import PasswordHasher

from signoff.app import create_app
from signoff.domain import errors
from signoff.domain.states import Role
from signoff.services import sign_in, users
from signoff.services.context import Context, create_context
from signoff.settings import Settings
from tests.integration.test_ui_security import csrf_of
from tests.live_server import serve

PASSWORD = "victim-password-1"


class CountingHasher(PasswordHasher):
    """The test-strength hasher, counting password checks (the server runs in this process)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.checked: list[str] = []
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
        with self._lock:
            self.checked.append(hash if isinstance(hash, str) else hash.decode())
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(users, "_hasher", counting)
    return counting


@pytest.fixture
def live(settings: Settings, hasher: CountingHasher) -> Iterator[tuple[Context, str]]:
    """A real server on 127.0.0.1 with one admin and one reviewer."""
    ctx = create_context(settings)
    users.add_user(ctx, "victim@example.com", Role.ADMIN, password=PASSWORD)
    users.add_user(ctx, "other@example.com", Role.REVIEWER, password="other-password-1")
    try:
        with serve(create_app(ctx=ctx)) as base:
            yield ctx, base
    finally:
        ctx.close()


def _login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    token = csrf_of(client.get("/ui/login").text)
    return client.post(
        "/ui/login", data={"email": email, "password": password, "csrf_token": token}
    )


def test_forty_parallel_wrong_passwords_get_exactly_five_password_checks(
    live: tuple[Context, str], hasher: CountingHasher
) -> None:
    _, base = live
    clients = [httpx.Client(base_url=base, timeout=60) for _ in range(40)]
    try:
        tokens = [csrf_of(c.get("/ui/login").text) for c in clients]
        start = threading.Barrier(len(clients))

        def attempt(i: int) -> int:
            start.wait()
            data = {"email": "victim@example.com", "password": "wrong", "csrf_token": tokens[i]}
            return clients[i].post("/ui/login", data=data).status_code

        with ThreadPoolExecutor(len(clients)) as pool:
            codes = list(pool.map(attempt, range(len(clients))))
    finally:
        for c in clients:
            c.close()
    assert sorted(codes) == [401] * 5 + [429] * 35
    assert len(hasher.checked) == 5
    # The right password from the same address now waits out the window too.
    with httpx.Client(base_url=base) as late:
        assert _login(late, "victim@example.com", PASSWORD).status_code == 429
    assert len(hasher.checked) == 5


def test_failing_on_an_account_from_one_address_does_not_lock_it_for_others(
    ctx: Context, keys: Any
) -> None:
    for _ in range(sign_in.MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS):
        with pytest.raises(errors.Unauthorized, match="wrong email or password"):
            sign_in.sign_in(ctx, "admin@example.com", "wrong", "203.0.113.9")
    with pytest.raises(errors.Unauthorized, match="too many failed") as refused:
        sign_in.sign_in(ctx, "admin@example.com", "admin-password-1", "203.0.113.9")
    assert refused.value.context["throttled"] is True
    principal, _ = sign_in.sign_in(ctx, "admin@example.com", "admin-password-1", "198.51.100.7")
    assert principal.email == "admin@example.com"
    # The failing address may still sign in to other accounts.
    other, _ = sign_in.sign_in(ctx, "reviewer@example.com", "reviewer-password-1", "203.0.113.9")
    assert other.email == "reviewer@example.com"


def test_one_address_failing_across_many_accounts_is_throttled(
    ctx: Context, keys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unknown accounts verify against the dummy hash; at test strength, so 50 stay quick.
    monkeypatch.setattr(sign_in, "DUMMY_HASH", users._hasher.hash("dummy"))
    for i in range(sign_in.MAX_FAILURES_PER_ADDRESS):
        with pytest.raises(errors.Unauthorized, match="wrong email or password"):
            sign_in.sign_in(ctx, f"guess{i}@example.com", "wrong", "203.0.113.50")
    with pytest.raises(errors.Unauthorized, match="too many failed"):
        sign_in.sign_in(ctx, "admin@example.com", "admin-password-1", "203.0.113.50")
    principal, _ = sign_in.sign_in(ctx, "admin@example.com", "admin-password-1", "192.0.2.1")
    assert principal.role is Role.ADMIN


def test_a_successful_sign_in_clears_the_failures_before_it(ctx: Context, keys: Any) -> None:
    for _ in range(3):
        with pytest.raises(errors.Unauthorized):
            sign_in.sign_in(ctx, "admin@example.com", "wrong", "192.0.2.5")
    sign_in.sign_in(ctx, "admin@example.com", "admin-password-1", "192.0.2.5")
    for _ in range(sign_in.MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS):
        with pytest.raises(errors.Unauthorized, match="wrong email or password"):
            sign_in.sign_in(ctx, "admin@example.com", "wrong", "192.0.2.5")


def test_the_window_ends_and_sign_in_works_again(settings: Settings, keys: Any) -> None:
    from signoff.clock import FrozenClock

    clock = FrozenClock()
    ctx = create_context(settings, clock=clock)
    try:
        for _ in range(sign_in.MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS + 3):
            with pytest.raises(errors.Unauthorized):
                sign_in.sign_in(ctx, "admin@example.com", "wrong", "192.0.2.8")
        clock.advance(minutes=14)
        with pytest.raises(errors.Unauthorized, match="too many failed"):
            sign_in.sign_in(ctx, "admin@example.com", "admin-password-1", "192.0.2.8")
        clock.advance(minutes=2)
        principal, _ = sign_in.sign_in(ctx, "admin@example.com", "admin-password-1", "192.0.2.8")
        assert principal.email == "admin@example.com"
    finally:
        ctx.close()


@pytest.mark.parametrize(
    "email", ["nobody@example.com", "nopassword@example.com", "gone@example.com"]
)
def test_unknown_passwordless_and_inactive_accounts_still_cost_one_password_check(
    ctx: Context, hasher: CountingHasher, email: str
) -> None:
    users.add_user(ctx, "nopassword@example.com", Role.REVIEWER)
    gone = users.add_user(ctx, "gone@example.com", Role.REVIEWER, password="gone-password-12")
    users.set_role(ctx, gone, Role.REVIEWER, False, "test", acting_user_id=None)
    hasher.checked.clear()
    with pytest.raises(errors.Unauthorized, match="wrong email or password"):
        sign_in.sign_in(ctx, email, "gone-password-12", "192.0.2.9")
    assert hasher.checked == [sign_in.DUMMY_HASH]


def test_the_dummy_hash_costs_what_a_real_password_hash_costs() -> None:
    real = PasswordHasher()
    assert argon2.extract_parameters(sign_in.DUMMY_HASH) == argon2.extract_parameters(
        real.hash("any password at all")
    )


def test_session_cookie_copied_before_sign_out_no_longer_works(live: tuple[Context, str]) -> None:
    _, base = live
    with httpx.Client(base_url=base) as owner, httpx.Client(base_url=base) as thief:
        assert _login(owner, "victim@example.com", PASSWORD).status_code == 303
        cookie = owner.cookies["signoff_session"]
        thief.cookies.set("signoff_session", cookie)
        assert thief.get("/ui/admin/users").status_code == 200
        assert thief.get("/api/v1/items").status_code == 200
        token = csrf_of(owner.get("/ui/admin/users").text)
        signed_out = owner.post("/ui/logout", data={"csrf_token": token}, follow_redirects=False)
        assert signed_out.status_code == 303
        page = thief.get("/ui/admin/users", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/ui/login")
        assert thief.get("/api/v1/items").status_code == 401


@pytest.mark.parametrize("change", ["password", "role", "deactivation"])
def test_password_role_change_and_deactivation_end_open_sessions(
    live: tuple[Context, str], change: str
) -> None:
    ctx, base = live
    with httpx.Client(base_url=base) as browser:
        assert _login(browser, "other@example.com", "other-password-1").status_code == 303
        assert browser.get("/ui/queue", follow_redirects=False).status_code == 200
        user = next(u for u in users.list_users(ctx) if u.email == "other@example.com")
        if change == "password":
            users.set_password(ctx, "other@example.com", "a-brand-new-password")
        elif change == "role":
            users.set_role(ctx, user.id, Role.AUDITOR, True, "test", acting_user_id=None)
        else:
            users.set_role(ctx, user.id, Role.REVIEWER, False, "test", acting_user_id=None)
        page = browser.get("/ui/queue", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/ui/login")


def test_saving_a_user_unchanged_keeps_their_session(live: tuple[Context, str]) -> None:
    ctx, base = live
    with httpx.Client(base_url=base) as browser:
        assert _login(browser, "other@example.com", "other-password-1").status_code == 303
        user = next(u for u in users.list_users(ctx) if u.email == "other@example.com")
        users.set_role(ctx, user.id, Role.REVIEWER, True, "test", acting_user_id=None)
        assert browser.get("/ui/queue", follow_redirects=False).status_code == 200
