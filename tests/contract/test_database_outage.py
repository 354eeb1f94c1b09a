"""While the database cannot be reached the API answers 503 with Retry-After, then recovers."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.api import errors as api_errors
from signoff.api import schemas
from signoff.app import create_app
from signoff.services.context import create_context
from tests import conftest
from tests.conftest import FAKE_WORKFLOW, Keys, make_settings
from tests.integration.test_cli import _signoff as cli_command
from tests.live_server import free_port, serve


def _set_reachable(database: str, reachable: bool) -> None:
    """Open or close a database to new connections; closing also ends the ones it has."""
    with psycopg.connect(conftest._pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(reachable).lower()}')
        if not reachable:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )


@pytest.fixture
def pg_server(pg_url: str) -> Iterator[tuple[str, str, Keys]]:
    """A live server on a private PostgreSQL database; yields (base URL, database, keys)."""
    database = pg_url.rpartition("/")[2]
    ctx = create_context(make_settings(pg_url))
    keys = Keys(ctx)
    try:
        with serve(create_app(ctx=ctx)) as base:
            yield base, database, keys
    finally:
        _set_reachable(database, True)
        ctx.close()


def _poll(check: object, deadline_seconds: float = 60.0) -> httpx.Response:
    """Call `check` until it returns a response, or fail at the deadline."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        response = check()  # type: ignore[operator]
        if response is not None:
            return response  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            pytest.fail("the condition did not hold before the deadline")
        time.sleep(0.2)


@pytest.mark.postgres
def test_postgres_outage_answers_503_with_retry_after_and_service_resumes_by_itself(
    pg_server: tuple[str, str, Keys],
) -> None:
    base, database, keys = pg_server
    admin = keys.auth(keys.admin)
    with httpx.Client(base_url=base, headers=admin, timeout=30) as http:
        assert http.put("/api/v1/workflows/docs", content=FAKE_WORKFLOW).status_code == 201
        first = http.post("/api/v1/workflows/docs/items", json={"content": {"text": "before"}})
        assert first.status_code == 201, first.text

        _set_reachable(database, False)
        for request in (
            lambda: http.get("/api/v1/items"),
            lambda: http.get(f"/api/v1/items/{first.json()['id']}"),
            lambda: http.post("/api/v1/workflows/docs/items", json={"content": {"text": "x"}}),
        ):
            down = request()
            assert down.status_code == 503, down.text
            assert down.headers["retry-after"] == str(api_errors.RETRY_AFTER_SECONDS)
            assert down.headers["content-type"].startswith("application/json")
            assert down.json()["error"] == "database_unavailable"
            assert down.json()["detail"]
        # Readiness turns unready with the outage (liveness stays up: the process answers).
        unready = httpx.get(f"{base}/readyz", timeout=30)
        assert unready.status_code == 503, unready.text
        assert unready.headers["retry-after"].isdigit()
        assert schemas.ReadyPublic.model_validate(unready.json()).database == "unavailable"
        assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200

        _set_reachable(database, True)

        def listed() -> httpx.Response | None:
            response = http.get("/api/v1/items")
            return response if response.status_code == 200 else None

        items = _poll(listed).json()["items"]
        assert [i["id"] for i in items] == [first.json()["id"]]
        again = http.post("/api/v1/workflows/docs/items", json={"content": {"text": "after"}})
        assert again.status_code == 201, again.text
        ready = httpx.get(f"{base}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
        assert schemas.ReadyPublic.model_validate(ready.json()).status == "ready"


def test_sqlite_database_is_locked_counts_as_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with pytest.raises(sa.exc.OperationalError) as locked, engine.connect() as conn:
            conn.execute(sa.text("SELECT * FROM t"))
        assert "locked" in str(locked.value)
        assert api_errors.is_unavailable(locked.value)
        with pytest.raises(sa.exc.OperationalError) as missing, engine.connect() as conn:
            holder.execute("COMMIT")
            conn.execute(sa.text("SELECT * FROM no_such_table"))
        assert not api_errors.is_unavailable(missing.value)
    finally:
        engine.dispose()
        holder.close()


@pytest.mark.postgres
def test_value_postgres_cannot_store_answers_422_and_stores_nothing(pg_url: str) -> None:
    ctx = create_context(make_settings(pg_url))
    keys = Keys(ctx)
    admin = keys.auth(keys.admin)
    try:
        with TestClient(create_app(ctx=ctx)) as client:
            assert client.put(
                "/api/v1/workflows/docs", content=FAKE_WORKFLOW, headers=admin
            ).is_success
            nul_content = {"content": {"text": "a\u0000b"}}
            response = client.post("/api/v1/workflows/docs/items", json=nul_content, headers=admin)
            # Intake refuses it before the database has to (which would answer
            # `unstorable_value`): the same 422, naming where the NUL is.
            assert response.status_code == 422, response.text
            assert response.json()["field"] == "content.text"
            assert "NUL" in response.json()["detail"]
            # Text fields the API declares refuse NUL up front, on either database.
            nul_id = {"content": {}, "external_id": "x\u0000"}
            response = client.post("/api/v1/workflows/docs/items", json=nul_id, headers=admin)
            assert response.status_code == 422, response.text
            assert response.json()["field"] == "external_id"
            listing = client.get("/api/v1/items", params={"workflow": "a\u0000"}, headers=admin)
            assert listing.status_code == 422
            assert listing.json()["field"] == "query.workflow"
            assert client.get("/api/v1/items", headers=admin).json()["items"] == []
    finally:
        ctx.close()


def test_a_worker_process_answers_readiness_on_its_health_port_through_an_outage(
    db_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SIGNOFF_DATABASE_URL": db_url,
        "SIGNOFF_ENVIRONMENT": "development",
        "SIGNOFF_DATA_DIR": str(tmp_path),
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        worker = subprocess.Popen(
            [*cli_command(), "worker", "--health-port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def readiness(status: int) -> Callable[[], httpx.Response | None]:
        def check() -> httpx.Response | None:
            assert worker.poll() is None, log_path.read_text()
            try:
                response = httpx.get(f"{base}/readyz", timeout=30)
            except httpx.TransportError:
                return None
            return response if response.status_code == status else None

        return check

    try:
        ready = schemas.ReadyPublic.model_validate(_poll(readiness(200)).json())
        assert ready.status == "ready" and ready.workers is not None
        assert (ready.workers.status, ready.workers.dead) == ("ok", [])
        assert httpx.get(f"{base}/healthz", timeout=30).json()["status"] == "ok"
        if db_url.startswith("postgresql"):
            database = db_url.rpartition("/")[2]
            _set_reachable(database, False)
            try:
                down = _poll(readiness(503))
                assert down.headers["retry-after"].isdigit()
                assert schemas.ReadyPublic.model_validate(down.json()).database == "unavailable"
            finally:
                _set_reachable(database, True)
            _poll(readiness(200))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
