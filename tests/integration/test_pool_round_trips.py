"""What a request pays the database besides its own statements, on PostgreSQL.

A pooled connection is pinged only after it sat idle, and a key lookup reads in
autocommit (no BEGIN and ROLLBACK around one SELECT). What the ping is for still
holds: a connection the server dropped while idle is replaced before it is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from signoff.services import users
from signoff.services.context import create_context
from signoff.storage import engine as engines
from tests.conftest import Keys, make_settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[sa.Engine]:
    engine = engines.create_engine(pg_url, pool_size=1)
    yield engine
    engine.dispose()


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    other = sa.create_engine(url)
    try:
        with other.connect() as connection:
            assert connection.execute(sa.text(f"SELECT pg_terminate_backend({pid})")).scalar()
    finally:
        other.dispose()


def _pings(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        seen.append(dbapi_connection)
        return bool(ping(dbapi_connection))

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return seen


def test_a_connection_back_in_the_pool_a_moment_ago_is_not_pinged(
    pg_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_SECONDS", 60.0)  # however loaded the machine
    pings = _pings(pg_engine, monkeypatch)
    first = _backend_pid(pg_engine)
    assert _backend_pid(pg_engine) == first  # the same pooled connection
    assert pings == []


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    pg_url: str, pg_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = _pings(pg_engine, monkeypatch)
    first = _backend_pid(pg_engine)
    _terminate(pg_url, first)  # a restart or an idle timeout, while it sat in the pool
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has now sat long enough
    assert _backend_pid(pg_engine) != first  # no error: a fresh connection took its place
    assert len(pings) == 1


def test_without_the_ping_a_dropped_connection_fails_its_statement(
    pg_url: str, pg_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the ping guards against (the statement fails; the pool starts afresh after)."""
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_SECONDS", 60.0)
    first = _backend_pid(pg_engine)
    _terminate(pg_url, first)
    with pytest.raises(sa.exc.OperationalError) as failure:
        _backend_pid(pg_engine)
    assert failure.value.connection_invalidated
    assert _backend_pid(pg_engine) != first


def test_a_key_lookup_reads_in_autocommit(pg_url: str) -> None:
    ctx = create_context(make_settings(pg_url))
    try:
        keys = Keys(ctx)
        used: list[Any] = []
        modes: list[bool] = []

        @sa.event.listens_for(ctx.engine, "before_cursor_execute")
        def _mode(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "FROM api_keys" in statement:
                used.append(conn.connection.dbapi_connection)
                modes.append(bool(used[-1].autocommit))

        principal = users.authenticate_key(ctx, keys.reviewer)
        assert principal.email == "reviewer@example.com"
        assert modes == [True]
        # The connection went back to the pool as it came: whoever takes it next writes
        # in a transaction.
        assert used[0].autocommit is False
        with engines.transaction(ctx.sessions) as session:
            assert not session.connection().connection.dbapi_connection.autocommit
    finally:
        ctx.close()
