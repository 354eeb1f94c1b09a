"""The `signoff` command line, run as a real process against SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from signoff.services.context import Context
from signoff.storage import tables as t
from tests import conftest

WORKFLOW = """
name: invoices
labels: [invoice, receipt, other]
ai: {provider: fake, retries: 0}
routing: {threshold: 0.85}
"""

STRONG_SECRET = "Zq8v3Lk1Xn0pRt7Yw2Bc5Hm9Jd4Gf6Sa"


def _signoff() -> list[str]:
    script = Path(sys.executable).parent / "signoff"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from signoff.cli import main; main()"]


def run(
    db_url: str, *args: str, timeout: float = 60, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `signoff ARGS` with the database URL (and any SIGNOFF_* overrides) set.

    Standard input is `stdin`, or empty: never the terminal, where commands would prompt.
    """
    environment = {
        **os.environ,
        "SIGNOFF_DATABASE_URL": db_url,
        "SIGNOFF_ENVIRONMENT": "development",
        "COLUMNS": "200",
        **env,
    }
    if "SIGNOFF_SECRET_KEY" not in env:
        environment.pop("SIGNOFF_SECRET_KEY", None)
    return subprocess.run(
        [*_signoff(), *args],
        env=environment,
        input=stdin or "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    """stdout and stderr with line wrapping undone."""
    return " ".join((result.stdout + "\n" + result.stderr).split())


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exit {result.returncode}: {output(result)}"


def assert_refused(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """A non-zero exit with a one-line message and no stack trace."""
    text = output(result)
    assert result.returncode != 0, text
    assert "Traceback" not in text and 'File "' not in text, text
    for part in expected:
        assert part in text, f"{part!r} not in: {text}"
    return text


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- users and keys ---------------------------------------------------------------------------


def test_users_add_creates_the_user_with_its_role(db_url: str, ctx: Context) -> None:
    result = run(db_url, "users", "add", "Ann@Example.com", "--role", "auditor", "--name", "Ann")
    assert_ok(result)
    assert "user ann@example.com added with role auditor" in output(result).lower()
    with ctx.sessions() as session:
        user = session.execute(sa.select(t.users)).one()
    assert (user.email, user.role, user.display_name, user.active) == (
        "ann@example.com",
        "auditor",
        "Ann",
        True,
    )
    listed = run(db_url, "users", "list")
    assert_ok(listed)
    assert "ann@example.com" in listed.stdout and "auditor" in listed.stdout


def test_users_add_refuses_a_second_user_with_the_same_email(db_url: str) -> None:
    assert_ok(run(db_url, "users", "add", "ann@example.com"))
    assert_refused(
        run(db_url, "users", "add", "ann@example.com"), "a user ann@example.com already exists"
    )


def test_keys_create_prints_the_key_once_and_stores_only_its_hash(
    db_url: str, ctx: Context
) -> None:
    assert_ok(run(db_url, "users", "add", "rev@example.com", "--role", "reviewer"))
    result = run(db_url, "keys", "create", "laptop", "--user", "rev@example.com")
    assert_ok(result)
    token = result.stdout.strip()
    # stdout is the key alone, so `KEY=$(signoff keys create ...)` works; the notice is on stderr.
    assert token.startswith("sk_") and "\n" not in token
    assert "will not be shown again" in result.stderr
    assert token not in result.stderr
    secret = token.removeprefix("sk_").partition("_")[2]  # sk_<prefix>_<secret>
    assert len(secret) >= 32

    with ctx.sessions() as session:
        key = session.execute(sa.select(t.api_keys)).one()
        events = session.execute(sa.select(t.audit_events.c.data)).scalars().all()
    assert key.name == "laptop"
    assert token.startswith(f"sk_{key.prefix}_")
    assert key.key_hash.startswith("$argon2")
    for value in key._mapping.values():
        assert secret not in str(value)
    assert all(secret not in str(data) for data in events)

    listed = run(db_url, "keys", "list")
    assert_ok(listed)
    assert "laptop" in listed.stdout and "rev@example.com" in listed.stdout
    assert secret not in output(listed)
    # A second key gets a different secret: nothing is derived from the name or user.
    again = run(db_url, "keys", "create", "laptop-2", "--user", "rev@example.com")
    assert_ok(again)
    assert again.stdout.strip() != token


def test_keys_create_for_an_unknown_user_names_the_fix(db_url: str) -> None:
    assert_refused(
        run(db_url, "keys", "create", "x", "--user", "nobody@example.com"),
        "no user nobody@example.com",
        "signoff users add",
    )


# -- workflows --------------------------------------------------------------------------------


def test_applying_the_same_workflow_twice_reports_it_unchanged(
    db_url: str, tmp_path: Path, ctx: Context
) -> None:
    path = tmp_path / "invoices.yaml"
    path.write_text(WORKFLOW)
    first = run(db_url, "workflows", "apply", str(path))
    assert_ok(first)
    assert "workflow invoices is now at version 1" in output(first)
    second = run(db_url, "workflows", "apply", str(path))
    assert_ok(second)
    assert "workflow invoices unchanged (version 1)" in output(second)
    with ctx.sessions() as session:
        versions = session.execute(sa.select(t.workflow_versions.c.version)).scalars().all()
        applied = session.execute(
            sa.select(sa.func.count())
            .select_from(t.audit_events)
            .where(t.audit_events.c.type == "workflow_applied")
        ).scalar_one()
    assert versions == [1]
    assert applied == 1


def test_applying_a_changed_workflow_makes_version_2(
    db_url: str, tmp_path: Path, ctx: Context
) -> None:
    path = tmp_path / "invoices.yaml"
    path.write_text(WORKFLOW)
    assert_ok(run(db_url, "workflows", "apply", str(path)))
    path.write_text(WORKFLOW.replace("threshold: 0.85", "threshold: 0.9"))
    changed = run(db_url, "workflows", "apply", str(path))
    assert_ok(changed)
    assert "workflow invoices is now at version 2" in output(changed)
    with ctx.sessions() as session:
        current = session.execute(sa.select(t.workflows.c.current_version)).scalar_one()
        specs = dict(
            session.execute(
                sa.select(t.workflow_versions.c.version, t.workflow_versions.c.spec)
            ).all()
        )
    assert current == 2
    assert specs[1]["routing"]["threshold"] == 0.85
    assert specs[2]["routing"]["threshold"] == 0.9
    listed = run(db_url, "workflows", "list")
    assert_ok(listed)
    assert "invoices" in listed.stdout and "2" in listed.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (WORKFLOW.replace("threshold: 0.85", "threshold: 1.5"), "routing.threshold"),
        (WORKFLOW.replace("threshold: 0.85", "treshold: 0.85"), "routing.treshold"),
        (WORKFLOW.replace("labels: [invoice, receipt, other]\n", ""), "labels"),
        (WORKFLOW.replace("name: invoices", "name: Invoices With Spaces"), "name"),
        (WORKFLOW.replace("retries: 0", "retries: many"), "ai.retries"),
    ],
    ids=["out-of-range", "unknown-field", "missing-field", "bad-name", "wrong-type"],
)
def test_malformed_workflow_is_refused_naming_the_field(
    text: str, expected: str, db_url: str, tmp_path: Path, ctx: Context
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = run(db_url, "workflows", "apply", str(path))
    assert result.returncode == 1, output(result)
    message = assert_refused(result, "invalid workflow", expected)
    assert f"{expected}:" in message
    with ctx.sessions() as session:
        stored = session.execute(sa.select(sa.func.count()).select_from(t.workflows)).scalar_one()
    assert stored == 0


def test_workflow_file_that_is_not_yaml_is_refused_showing_where(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [invoices\nlabels: [a]\n")
    result = run(sqlite_url, "workflows", "apply", str(path))
    assert result.returncode == 1, output(result)
    # The parser's pointer to the bad line reaches the user intact.
    assert_refused(result, "not valid YAML", "line 1", "name: [invoices")


def test_missing_workflow_file_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    result = run(sqlite_url, "workflows", "apply", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1, output(result)
    assert_refused(result, "no such file", "nope.yaml")


# -- schema and settings checks ---------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that exists but was never migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("pg_template")  # skips when PostgreSQL is unreachable
    name = f"signoff_empty_{uuid.uuid4().hex[:10]}"
    admin = conftest._pg_admin_dsn()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield conftest._with_db(conftest.PG_URL, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_serve_on_a_database_never_migrated_exits_naming_db_upgrade(empty_db_url: str) -> None:
    result = run(empty_db_url, "serve", "--port", str(_free_port()), timeout=30)
    assert_refused(result, "signoff db upgrade")


def test_worker_on_a_database_never_migrated_exits_naming_db_upgrade(empty_db_url: str) -> None:
    result = run(empty_db_url, "worker", timeout=30)
    assert_refused(result, "signoff db upgrade")


def test_serve_on_a_database_it_cannot_reach_exits_with_a_message(pg_template: str) -> None:
    missing = conftest._with_db(conftest.PG_URL, f"signoff_missing_{uuid.uuid4().hex[:8]}")
    result = run(missing, "serve", "--port", str(_free_port()), timeout=30)
    assert_refused(result, "database error", "does not exist")


def test_serve_from_several_processes_on_sqlite_is_refused_naming_postgresql(
    sqlite_url: str,
) -> None:
    result = run(sqlite_url, "serve", "--port", str(_free_port()), "--processes", "2", timeout=30)
    assert_refused(result, "--processes needs PostgreSQL")


def test_serve_from_no_processes_is_refused(sqlite_url: str) -> None:
    result = run(sqlite_url, "serve", "--processes", "0", timeout=30)
    assert result.returncode == 2 and "--processes" in output(result)
    assert "Traceback" not in output(result)


def test_db_upgrade_makes_a_never_migrated_database_usable(empty_db_url: str) -> None:
    upgraded = run(empty_db_url, "db", "upgrade")
    assert_ok(upgraded)
    assert "database at revision" in output(upgraded)
    current = run(empty_db_url, "db", "current")
    assert_ok(current)
    assert current.stdout.strip() in output(upgraded)
    assert_ok(run(empty_db_url, "audit", "verify"))


@pytest.mark.parametrize(
    "secret",
    ["tooShort1", "a" * 48, "dev-insecure-secret-change-me"],
    ids=["short", "repetitive", "the-dev-default"],
)
def test_weak_secret_in_production_is_refused_with_a_clear_message(
    secret: str, sqlite_url: str
) -> None:
    env = {"SIGNOFF_ENVIRONMENT": "production", "SIGNOFF_SECRET_KEY": secret}
    result = run(sqlite_url, "serve", "--port", str(_free_port()), timeout=30, **env)
    text = assert_refused(result, "SIGNOFF_SECRET_KEY is weak", "at least 32")
    # The refusal must not echo the secret into a terminal or a log.
    assert secret not in text


def test_production_without_a_secret_key_generates_one_next_to_the_database(
    sqlite_url: str,
) -> None:
    assert_ok(run(sqlite_url, "audit", "verify", SIGNOFF_ENVIRONMENT="production"))
    key_file = Path(sqlite_url.removeprefix("sqlite:///")).parent / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(key_file.read_text().strip()) >= 32


def test_invalid_setting_is_refused_naming_its_environment_variable(sqlite_url: str) -> None:
    result = run(sqlite_url, "audit", "verify", SIGNOFF_WORKER__BATCH_SIZE="lots")
    assert result.returncode == 2, output(result)
    assert_refused(result, "invalid settings", "SIGNOFF_WORKER__BATCH_SIZE", "valid integer")


def test_strong_secret_in_production_is_accepted(sqlite_url: str) -> None:
    result = run(
        sqlite_url,
        "audit",
        "verify",
        SIGNOFF_ENVIRONMENT="production",
        SIGNOFF_SECRET_KEY=STRONG_SECRET,
    )
    assert_ok(result)
