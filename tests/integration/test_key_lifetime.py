"""API keys that expire (`signoff keys create --expires-in`) and rotate (`signoff keys rotate`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.clock import FrozenClock
from signoff.domain import errors
from signoff.domain.access import Scope
from signoff.services import audit as audit_service
from signoff.services import users
from signoff.services.context import Context, create_context
from signoff.storage import tables as t
from tests.conftest import make_settings


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


@pytest.fixture
def timed(db_url: str, clock: FrozenClock) -> Iterator[tuple[Context, TestClient]]:
    ctx = create_context(make_settings(db_url), clock=clock)
    try:
        with TestClient(create_app(ctx=ctx)) as client:
            yield ctx, client
    finally:
        ctx.close()


def _items(client: TestClient, token: str) -> tuple[int, str]:
    response = client.get("/api/v1/items", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.json().get("detail", "")


def _cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "signoff"
    env = {
        **os.environ,
        "SIGNOFF_DATABASE_URL": db_url,
        "SIGNOFF_ENVIRONMENT": "development",
        "COLUMNS": "200",
    }
    return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=60)


def test_a_key_made_to_expire_works_until_then_and_is_refused_after(
    timed: tuple[Context, TestClient], clock: FrozenClock
) -> None:
    ctx, client = timed
    _, token = users.create_key(ctx, "ci", None, expires_in=users.parse_key_lifetime("90d"))
    assert _items(client, token)[0] == 200
    clock.advance(days=89, hours=23)
    assert _items(client, token)[0] == 200
    clock.advance(hours=1)
    assert _items(client, token) == (401, "this API key has expired; rotate or replace it")
    # A wrong secret for the same prefix learns nothing about the key's expiry.
    forged = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
    assert _items(client, forged) == (401, "invalid API key")


def test_rotation_gives_a_new_key_with_the_same_powers_and_stops_the_old_one(
    timed: tuple[Context, TestClient], clock: FrozenClock
) -> None:
    ctx, client = timed
    old_id, old = users.create_key(
        ctx, "pipeline", None, scopes=[Scope.WORKFLOWS], expires_in=users.parse_key_lifetime("30d")
    )
    clock.advance(days=10)
    new_id, new = users.rotate_key(ctx, old_id, "cli")
    assert new != old
    assert _items(client, old)[0] == 401
    principal = users.authenticate_key(ctx, new)
    assert principal.scopes == frozenset({Scope.WORKFLOWS}) and principal.key_id == new_id
    by_id = {k.id: k for k in users.list_keys(ctx)}
    assert by_id[new_id].name == "pipeline" and by_id[new_id].rotated_from == old_id
    # The replacement lasts as long as the old key was made to: 30 days from the rotation.
    assert by_id[new_id].expires_at == clock.now() + users.parse_key_lifetime("30d")
    with pytest.raises(errors.NotFound):
        users.rotate_key(ctx, old_id, "cli")
    with ctx.sessions() as session:
        rotated = session.execute(
            sa.select(t.audit_events.c.data).where(t.audit_events.c.type == "api_key_rotated")
        ).scalar_one()
    assert rotated["key_id"] == old_id and rotated["new_key_id"] == new_id
    assert audit_service.verify(ctx).problems == []


def test_rotation_with_an_overlap_keeps_the_old_key_working_for_that_long_only(
    timed: tuple[Context, TestClient], clock: FrozenClock
) -> None:
    ctx, client = timed
    old_id, old = users.create_key(ctx, "app", None)
    _, new = users.rotate_key(ctx, old_id, "cli", overlap=users.parse_key_lifetime("1h"))
    assert _items(client, old)[0] == 200 and _items(client, new)[0] == 200
    clock.advance(minutes=61)
    assert _items(client, old)[0] == 401
    assert _items(client, new)[0] == 200


def test_the_cli_creates_expiring_keys_rotates_them_and_refuses_bad_lifetimes(
    db_url: str, ctx: Context
) -> None:
    created = _cli(db_url, "keys", "create", "ci", "--expires-in", "90d")
    assert created.returncode == 0, created.stderr
    assert "expires in 90d" in created.stderr
    [token] = [line for line in created.stdout.splitlines() if line.startswith("sk_")]
    assert users.authenticate_key(ctx, token).scopes == frozenset({Scope.ITEMS})

    listed = _cli(db_url, "keys", "list")
    assert listed.returncode == 0 and "expires" in listed.stdout

    rotated = _cli(db_url, "keys", "rotate", "1", "--overlap", "2h")
    assert rotated.returncode == 0, rotated.stderr
    assert "key 1 stops in 2h" in rotated.stderr
    [new] = [line for line in rotated.stdout.splitlines() if line.startswith("sk_")]
    assert new != token and users.authenticate_key(ctx, new).key_id == 2

    for bad in ("forever", "0m", "4000d"):
        refused = _cli(db_url, "keys", "create", "x", "--expires-in", bad)
        assert refused.returncode == 1, refused.stdout
        assert "--expires-in:" in refused.stderr and "Traceback" not in refused.stderr
    missing = _cli(db_url, "keys", "rotate", "99")
    assert missing.returncode == 1 and "no live API key with id 99" in missing.stderr
