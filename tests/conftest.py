"""Fixtures: a fresh database per test (SQLite file copied from a migrated template,
PostgreSQL database created from a migrated template database), contexts and clients."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.domain.states import Role
from signoff.services import users
from signoff.services.context import Context, create_context
from signoff.settings import Settings
from signoff.storage import migrate

PG_URL = os.environ.get(
    "SIGNOFF_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
CHECKOUT = Path(__file__).resolve().parents[1]
_TREE_BEFORE = pytest.StashKey[str | None]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-screenshots",
        action="store_true",
        help="write the browser tests' screenshots to docs/screenshots (make screenshots)",
    )


def _git_status() -> str | None:
    """`git status --porcelain` of the checkout, or None outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "-C", str(CHECKOUT), "status", "--porcelain", "--untracked-files=all"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def pytest_sessionstart(session: pytest.Session) -> None:
    update = session.config.getoption("--update-screenshots")
    session.config.stash[_TREE_BEFORE] = None if update else _git_status()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Tests write to tmp only: fail the run when the checkout's git status changed."""
    before = session.config.stash.get(_TREE_BEFORE, None)
    if before is None:
        return
    after = _git_status()
    if after is None or after == before:
        return
    changed = sorted(set(after.splitlines()) ^ set(before.splitlines()))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = (
        "the test run changed the checkout (tests must write to tmp only;"
        " or these were edited during the run):\n"
    ) + "\n".join(f"  {line}" for line in changed)
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(message, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _pg_admin_dsn() -> str:
    return PG_URL.replace("postgresql+psycopg://", "postgresql://")


def _pg_available() -> bool:
    try:
        with psycopg.connect(_pg_admin_dsn(), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def require_postgres() -> None:
    """Skip when no PostgreSQL answers — except in CI, where these tests must run."""
    if not _pg_available():
        if IN_CI:
            pytest.fail(f"PostgreSQL is not reachable at {PG_URL} (CI must run these tests)")
        pytest.skip("PostgreSQL is not reachable; set SIGNOFF_TEST_POSTGRES_URL")


@contextmanager
def pg_database(prefix: str, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (optionally copied from `template`), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield name
    finally:
        with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    require_postgres()
    with pg_database("signoff_tpl") as name:
        migrate.upgrade(_with_db(PG_URL, name))
        yield name


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "signoff.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    with pg_database("signoff_t", template=pg_template) as name:
        yield _with_db(PG_URL, name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database: each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at test strength: the real cost is for production, not for every fixture user."""
    monkeypatch.setattr(
        users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def make_settings(url: str, **overrides: Any) -> Settings:
    # Tests stand in for webhook receivers and model APIs on 127.0.0.1.
    values: dict[str, Any] = {
        "database_url": url,
        "environment": "development",
        "outbound": {"allow": "127.0.0.1"},
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Context]:
    context = create_context(settings)
    yield context
    context.close()


@pytest.fixture
def app(ctx: Context) -> Any:
    return create_app(ctx=ctx)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


class Keys:
    """API keys for one user of each role, and a service key without a user."""

    def __init__(self, ctx: Context) -> None:
        users.add_user(ctx, "admin@example.com", Role.ADMIN, password="admin-password-1")
        users.add_user(ctx, "reviewer@example.com", Role.REVIEWER, password="reviewer-password-1")
        users.add_user(ctx, "reviewer2@example.com", Role.REVIEWER, password="reviewer-password-2")
        users.add_user(ctx, "auditor@example.com", Role.AUDITOR, password="auditor-password-1")
        self.admin = users.create_key(ctx, "admin", "admin@example.com")[1]
        self.reviewer = users.create_key(ctx, "reviewer", "reviewer@example.com")[1]
        self.reviewer2 = users.create_key(ctx, "reviewer2", "reviewer2@example.com")[1]
        self.auditor = users.create_key(ctx, "auditor", "auditor@example.com")[1]
        self.service = users.create_key(ctx, "service", None)[1]

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def keys(ctx: Context) -> Keys:
    return Keys(ctx)


FAKE_WORKFLOW = """
name: docs
labels: [invoice, contract, receipt, other]
ai: {provider: fake, retries: 2, backoff_seconds: 0.01}
routing: {threshold: 0.85, always_review_labels: [contract]}
review: {outcomes: [approved, rejected]}
"""


@pytest.fixture
def docs_workflow(client: TestClient, keys: Keys) -> str:
    """A workflow whose fake provider answers what each item's content says."""
    response = client.put(
        "/api/v1/workflows/docs", content=FAKE_WORKFLOW, headers=keys.auth(keys.admin)
    )
    assert response.status_code == 201, response.text
    return "docs"
