"""Engines and sessions: SQLite pragmas and BEGIN IMMEDIATE for writes, PostgreSQL pooling."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

#: Execution option that marks a connection's transaction as one that writes.
WRITES = "signoff_writes"


def create_engine(url: str, *, pool_size: int = 10) -> sa.Engine:
    """An engine configured for signoff's access patterns on either dialect."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=20,
        )
        _configure_sqlite(engine)
        return engine
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=20)
    _ping_when_idle(engine)
    return engine


#: A pooled connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: sa.Engine) -> None:
    """Ping a pooled connection before use only if it sat idle (SQLAlchemy's pre-ping does
    on every checkout: a round trip added to every request under load).

    A connection the server dropped while idle (a restart, an idle timeout) is replaced
    before anything runs on it; one dropped in the last second fails its statement, which
    is answered as the database being unavailable, and the pool then starts afresh.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # new, or in use a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise sa.exc.DisconnectionError(str(exc)) from exc
        if not alive:
            raise sa.exc.DisconnectionError("the database closed this pooled connection")


def _configure_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A writing transaction takes the write lock up front: a deferred one that later
        # writes can fail with SQLITE_BUSY instead of waiting on the busy timeout. Reads
        # begin deferred, so they never queue behind a writer (WAL gives them a snapshot).
        if connection.get_execution_options().get(WRITES):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


#: Where a session carries the key its audit events are signed with (see storage.audit).
AUDIT_KEY = "signoff_audit_key"


def make_sessionmaker(engine: sa.Engine, *, audit_key: Any = None) -> sessionmaker[Session]:
    """Sessions on `engine`; `audit_key` (a domain.audit.ChainKey) signs the events they write."""
    info = {AUDIT_KEY: audit_key} if audit_key is not None else {}
    return sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)


@contextmanager
def reading(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reads only. On PostgreSQL its statements run in autocommit: each sees
    its own snapshot, as under READ COMMITTED anyway, and a one-row lookup costs one round
    trip instead of three (BEGIN, SELECT, ROLLBACK)."""
    with factory() as session:
        if dialect_name(session) == "postgresql":
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work that writes: commit on success, roll back on error.

    On SQLite it holds the write lock from its first statement; a plain
    `factory()` session is for reads and does not.
    """
    with factory() as session, session.begin():
        session.connection(execution_options={WRITES: True})
        yield session


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


def rowcount(result: Any) -> int:
    """Rows an UPDATE/DELETE touched (summed over executemany)."""
    return int(result.rowcount)


def read_database_time(engine: sa.Engine) -> datetime:
    """The database server's time now: PostgreSQL's `clock_timestamp()`.

    SQLite has no server: the database file lives on this machine, whose clock is the
    reference, read unshifted.
    """
    if engine.dialect.name == "sqlite":
        return datetime.now(UTC)
    with engine.connect() as connection:
        value = connection.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
