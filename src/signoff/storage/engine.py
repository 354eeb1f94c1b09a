"""Engines and sessions: SQLite pragmas and BEGIN IMMEDIATE, PostgreSQL pooling."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker


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
    return sa.create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)


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
        # Take the write lock up front: a deferred transaction that later writes can
        # fail with SQLITE_BUSY instead of waiting on the busy timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: sa.Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error."""
    with factory() as session, session.begin():
        yield session


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


def rowcount(result: Any) -> int:
    """Rows an UPDATE/DELETE touched (summed over executemany)."""
    return int(result.rowcount)
