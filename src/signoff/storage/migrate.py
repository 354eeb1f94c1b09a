"""Alembic driven from code: upgrade, current revision, and the outdated-schema check."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from signoff.domain import errors

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_schema(engine: sa.Engine) -> None:
    """Raise SchemaOutdated unless the database is at the head revision."""
    url = engine.url.render_as_string(hide_password=False)
    current = current_revision(engine)
    head = head_revision(url)
    if current != head:
        raise errors.SchemaOutdated(
            f"the database schema is at {current or 'nothing'} but this signoff needs {head}; "
            "run `signoff db upgrade` first"
        )
