"""Upgrading to keyed audit chains: a trail of plain SHA-256 events still verifies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from signoff.domain import audit as audit_rules
from signoff.domain.states import Role
from signoff.services import audit as audit_service
from signoff.services import users
from signoff.services.context import create_context
from signoff.storage import migrate
from signoff.storage import tables as t
from tests.conftest import PG_URL, _with_db, make_settings, pg_database, require_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    require_postgres()
    with pg_database("signoff_aud") as name:
        yield _with_db(PG_URL, name)


def test_a_legacy_sha256_chain_verifies_after_the_upgrade_and_new_events_are_keyed(
    empty_url: str,
) -> None:
    migrate.upgrade(empty_url, "0003_learning_state")
    when = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    rows, prev = [], audit_rules.GENESIS
    for seq, email in enumerate(["a@example.com", "b@example.com", "c@example.com"], start=1):
        event = {
            "chain": "system",
            "seq": seq,
            "item_id": None,
            "type": "user_added",
            "actor": "cli",
            "data": {"email": email, "role": "reviewer"},
            "created_at": when,
        }
        # What the previous version wrote: SHA-256, no key.
        digest = audit_rules.event_hash(
            prev_hash=prev, **{k: v for k, v in event.items() if k != "item_id"}
        )
        rows.append({**event, "prev_hash": prev, "hash": digest})
        prev = digest
    old_columns = [c for c in t.audit_events.c if c.name != "key_id"]
    old_events = sa.table("audit_events", *[sa.column(c.name, c.type) for c in old_columns])
    engine = sa.create_engine(empty_url)
    with engine.begin() as connection:
        connection.execute(sa.insert(old_events), rows)
        connection.execute(sa.insert(t.audit_chains).values(chain="system", seq=3, hash=prev))
    engine.dispose()

    migrate.upgrade(empty_url)
    ctx = create_context(make_settings(empty_url))
    try:
        with ctx.sessions() as session:
            assert set(session.execute(sa.select(t.audit_events.c.key_id)).scalars()) == {None}
        before = audit_service.verify(ctx)
        assert before.problems == [] and before.legacy == 3
        users.add_user(ctx, "new@example.com", Role.AUDITOR)
        after = audit_service.verify(ctx)
        assert after.problems == [], [p.describe() for p in after.problems]
        assert (after.checked, after.legacy) == (4, 3)
        with ctx.sessions() as session:
            newest = session.execute(
                sa.select(t.audit_events.c.key_id).where(t.audit_events.c.seq == 4)
            ).scalar_one()
        assert newest == ctx.audit_keys.current.key_id
    finally:
        ctx.close()
