"""Upgrading to key scopes breaks no deployment: existing service keys keep acting as admin."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from signoff.domain.access import Scope
from signoff.services import users
from signoff.services.context import Context, create_context
from signoff.storage import migrate
from tests.conftest import PG_URL, _with_db, make_settings, pg_database, require_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    require_postgres()
    with pg_database("signoff_acc") as name:
        yield _with_db(PG_URL, name)


def test_keys_made_before_scopes_keep_working_as_they_did(empty_url: str) -> None:
    migrate.upgrade(empty_url, "0002")
    ctx = create_context(make_settings(empty_url))
    try:
        # Keys as the previous version made them: no scopes column yet.
        _, service_token = _old_key(ctx, "legacy-app", None)
        with ctx.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO users (email, role, active, created_at) "
                    "VALUES ('rev@example.com', 'reviewer', true, :now)"
                ),
                {"now": datetime.now(UTC).replace(tzinfo=None)},
            )
        _, user_token = _old_key(ctx, "laptop", 1)
        migrate.upgrade(empty_url)
        service = users.authenticate_key(ctx, service_token)
        personal = users.authenticate_key(ctx, user_token)
        assert service.scopes == frozenset({Scope.ADMIN})
        assert personal.scopes is None and personal.email == "rev@example.com"
        assert [users.key_powers(k) for k in users.list_keys(ctx)] == [
            "scope admin",
            "role reviewer",
        ]
        # New service keys after the upgrade get the narrow default.
        _, fresh = users.create_key(ctx, "new-app", None)
        assert users.authenticate_key(ctx, fresh).scopes == frozenset({Scope.ITEMS})
    finally:
        ctx.close()


def _old_key(ctx: Context, name: str, user_id: int | None) -> tuple[int, str]:
    """Insert a key row with only the columns revision 0002 had."""
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with ctx.engine.begin() as conn:
        key_id = conn.execute(
            sa.text(
                "INSERT INTO api_keys (name, user_id, prefix, key_hash, created_at) "
                "VALUES (:name, :user_id, :prefix, :hash, :now) RETURNING id"
            ),
            {
                "name": name,
                "user_id": user_id,
                "prefix": prefix,
                "hash": users._key_hasher.hash(secret),
                "now": datetime.now(UTC).replace(tzinfo=None),
            },
        ).scalar_one()
    return int(key_id), f"sk_{prefix}_{secret}"
