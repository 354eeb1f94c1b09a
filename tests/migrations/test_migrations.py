"""One Alembic chain for both dialects: `upgrade head` yields exactly the models' schema."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import postgresql
from typer.testing import CliRunner

from signoff import cli
from signoff.domain import errors
from signoff.storage import migrate, tables
from tests.conftest import PG_URL, _with_db, pg_database, require_postgres


@pytest.fixture
def empty_sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    require_postgres()
    with pg_database("signoff_mig") as name:
        yield _with_db(PG_URL, name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest) -> str:
    """A database with no tables at all, on each dialect."""
    return str(request.getfixturevalue(f"empty_{request.param}"))


def _unquoted(default: str | None) -> str | None:
    if default is None:
        return None
    default = re.sub(r"^\((.*)\)$", r"\1", default)
    return re.sub(r"^'(.*)'$", r"\1", default)


def _compare_server_default(
    _context: Any,
    _inspected: Any,
    _metadata_column: Any,
    inspected_default: str | None,
    _metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    # Alembic's SQLite comparer strips quotes only from non-empty literals, so it
    # reports `''` (reflected) against `''` (rendered) as a change. Settle only the
    # defaults that are equal once unquoted; leave every other verdict to Alembic.
    if _unquoted(inspected_default) == _unquoted(rendered_metadata_default):
        return False
    return None


def _differences(url: str, metadata: sa.MetaData = tables.metadata) -> list[Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"compare_type": True, "compare_server_default": _compare_server_default},
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _models_copy() -> sa.MetaData:
    copy = sa.MetaData(naming_convention=tables.metadata.naming_convention)
    for t in tables.metadata.sorted_tables:
        t.to_metadata(copy)
    return copy


def _drifted(table: str, column: str, new_type: sa.types.TypeEngine[Any]) -> sa.MetaData:
    """A copy of the models with one column's type changed."""
    copy = _models_copy()
    copy.tables[table].c[column].type = new_type
    return copy


def _changed_columns(diffs: list[Any]) -> set[tuple[str, str, str]]:
    found = set()
    for diff in diffs:
        for op in diff if isinstance(diff, list) else [diff]:
            if op[0].startswith("modify_"):
                found.add((op[0], op[2], op[3]))
    return found


def test_upgrade_head_on_an_empty_database_matches_the_models(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    assert _differences(empty_url) == []


def test_upgrade_head_leaves_the_database_at_the_head_revision(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    engine = sa.create_engine(empty_url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision(empty_url)
        names = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(tables.metadata.tables) <= names
    assert "alembic_version" in names


def test_upgrading_twice_changes_nothing(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    migrate.upgrade(empty_url)
    assert _differences(empty_url) == []


def test_comparison_notices_a_column_whose_type_drifted(empty_url: str) -> None:
    # Guards the test above against a comparison that could never fail.
    migrate.upgrade(empty_url)
    assert _changed_columns(_differences(empty_url, _drifted("items", "state", sa.String(17)))) == {
        ("modify_type", "items", "state")
    }
    assert _changed_columns(_differences(empty_url, _drifted("items", "content", sa.Text()))) == {
        ("modify_type", "items", "content")
    }
    assert ("modify_type", "items", "created_at") in _changed_columns(
        _differences(empty_url, _drifted("items", "created_at", sa.String(32)))
    )


def test_comparison_notices_a_missing_index_nullability_and_server_default(
    empty_url: str,
) -> None:
    migrate.upgrade(empty_url)
    extra = _models_copy()
    sa.Index(
        "ix_items_not_in_any_migration",
        extra.tables["items"].c.external_id,
        extra.tables["items"].c.state,
    )
    extra.tables["items"].c.comment.nullable = False
    extra.tables["items"].c.audit_hash.server_default = sa.DefaultClause("x")
    extra.tables["items"].c.audit_seq.server_default = sa.DefaultClause("1")
    diffs = _differences(empty_url, extra)
    flat = [op for d in diffs for op in (d if isinstance(d, list) else [d])]
    assert ("add_index", "ix_items_not_in_any_migration") in [
        (op[0], op[1].name) for op in flat if op[0] == "add_index"
    ]
    assert {
        ("modify_nullable", "items", "comment"),
        ("modify_default", "items", "audit_hash"),
        ("modify_default", "items", "audit_seq"),
    } <= _changed_columns(diffs)


@pytest.mark.postgres
def test_postgres_columns_are_jsonb_and_naive_timestamps_as_the_models_say(
    empty_postgres: str,
) -> None:
    migrate.upgrade(empty_postgres)
    engine = sa.create_engine(empty_postgres)
    try:
        columns = {c["name"]: c["type"] for c in sa.inspect(engine).get_columns("items")}
    finally:
        engine.dispose()
    assert isinstance(columns["content"], postgresql.JSONB)
    assert isinstance(columns["created_at"], sa.DateTime)
    assert columns["created_at"].timezone is False
    assert isinstance(columns["id"], sa.BigInteger)
    # ...and the comparison would notice if they were not.
    assert _changed_columns(
        _differences(empty_postgres, _drifted("items", "content", sa.JSON()))
    ) == {("modify_type", "items", "content")}
    assert _changed_columns(
        _differences(empty_postgres, _drifted("items", "created_at", sa.DateTime(timezone=True)))
    ) == {("modify_type", "items", "created_at")}
    assert _changed_columns(
        _differences(empty_postgres, _drifted("items", "id", sa.Integer()))
    ) == {("modify_type", "items", "id")}


def test_schema_check_refuses_an_empty_database_naming_signoff_db_upgrade(
    empty_url: str,
) -> None:
    engine = sa.create_engine(empty_url)
    try:
        with pytest.raises(errors.SchemaOutdated) as raised:
            migrate.check_schema(engine)
    finally:
        engine.dispose()
    assert "signoff db upgrade" in raised.value.detail
    assert "nothing" in raised.value.detail


def test_schema_check_refuses_a_database_behind_head_and_passes_at_head(empty_url: str) -> None:
    migrate.upgrade(empty_url, "0001")
    engine = sa.create_engine(empty_url)
    try:
        with pytest.raises(errors.SchemaOutdated) as raised:
            migrate.check_schema(engine)
        assert "0001" in raised.value.detail
        assert "signoff db upgrade" in raised.value.detail
        migrate.upgrade(empty_url)
        migrate.check_schema(engine)
    finally:
        engine.dispose()


def test_signoff_serve_on_an_empty_database_exits_telling_to_run_db_upgrade(
    empty_sqlite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNOFF_DATABASE_URL", empty_sqlite)
    result = CliRunner().invoke(cli.app, ["serve", "--port", "1"])
    assert result.exit_code == 1, result.output
    assert "signoff db upgrade" in " ".join(result.output.split())
    assert "serving" not in result.output


def test_signoff_db_upgrade_then_brings_the_database_to_head(
    empty_sqlite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNOFF_DATABASE_URL", empty_sqlite)
    result = CliRunner().invoke(cli.app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    engine = sa.create_engine(empty_sqlite)
    try:
        migrate.check_schema(engine)
    finally:
        engine.dispose()
    assert _differences(empty_sqlite) == []
