"""Worker loops survive anything provider code raises, one bad item never strands the others,
dead threads come back, and /readyz tells a load balancer (SQLite and PostgreSQL)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from signoff.api import schemas
from signoff.app import create_app
from signoff.clock import FrozenClock
from signoff.services import audit as audit_service
from signoff.services import intake, processing
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.storage import audit, items, tasks
from signoff.workers.runner import WorkerPool
from tests.conftest import Keys, make_settings
from tests.integration.test_cli import _signoff as cli_command
from tests.live_server import free_port

DEADLINE = 120.0
FUNCTION = "tests.integration.ai_functions:answer_or_misbehave"


def _workflow(name: str, function: str = FUNCTION, **review: Any) -> dict[str, Any]:
    return {
        "name": name,
        "labels": ["invoice", "other"],
        "ai": {"provider": "python", "retries": 0, "options": {"function": function}},
        "routing": {"threshold": 0.9},
        "review": {"outcomes": ["approved", "rejected"], **review},
    }


@pytest.fixture
def wctx(db_url: str) -> Iterator[Context]:
    settings = make_settings(
        db_url,
        worker={"concurrency": 2, "batch_size": 10, "poll_seconds": 0.05, "supervise_seconds": 0.1},
    )
    context = create_context(settings)
    yield context
    context.close()


def _submit(ctx: Context, workflow: str, content: dict[str, Any]) -> int:
    return intake.submit_item(ctx, workflow, intake.NewItem(content=content), "test").item_id


def _row(ctx: Context, item_id: int) -> Any:
    with ctx.sessions() as session:
        return items.read_item(session, item_id)


def _wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _settled(ctx: Context, ids: list[int]) -> bool:
    return all(_row(ctx, i).state in ("approved", "in_review") for i in ids)


def test_provider_raising_system_exit_sends_items_to_people_and_workers_keep_running(
    wctx: Context,
) -> None:
    workflow_service.apply_workflow(wctx, _workflow("exits", "sys:exit"), "test")
    workflow_service.apply_workflow(wctx, _workflow("mixed"), "test")
    pool = WorkerPool(wctx, sender=False)
    with TestClient(create_app(ctx=wctx, workers=pool)) as client:
        pool.start()
        try:
            exiting = [_submit(wctx, "exits", {"text": f"doc {n}"}) for n in range(3)]
            _wait_for(lambda: _settled(wctx, exiting), "the sys:exit items to be routed")
            for item_id in exiting:
                row = _row(wctx, item_id)
                assert (row.state, row.route_reasons) == ("in_review", ["ai_error"])
                assert "SystemExit" in row.prediction["error"]
            assert pool.dead_threads() == []

            # Every other way provider code can blow up, then good items: all are handled.
            odd = [
                _submit(wctx, "mixed", {"text": "x", "misbehave": how})
                for how in ("keyboard_interrupt", "generator_exit", "system_exit")
            ]
            good = [_submit(wctx, "mixed", {"text": f"invoice {n}"}) for n in range(3)]
            _wait_for(lambda: _settled(wctx, odd + good), "the mixed items to be routed")
            errors = [_row(wctx, i).prediction["error"] for i in odd]
            assert ["KeyboardInterrupt" in errors[0], "GeneratorExit" in errors[1]] == [True] * 2
            assert all(_row(wctx, i).route_reasons == ["ai_error"] for i in odd)
            assert all(_row(wctx, i).state == "approved" for i in good)
            assert pool.dead_threads() == [] and pool.restarts == 0

            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["status"] == "ready"
            assert ready.json()["workers"] == {"status": "ok", "dead": []}
        finally:
            pool.stop()
        # A stopped pool runs no work: the process is alive but not ready.
        assert client.get("/healthz").status_code == 200
        stopped = client.get("/readyz")
        assert stopped.status_code == 503
        assert stopped.headers["retry-after"].isdigit()
        assert stopped.json()["error"] == "not_ready"
        assert "worker threads not running" in stopped.json()["detail"]


def test_a_batch_with_an_unrecordable_item_records_its_neighbours(wctx: Context) -> None:
    workflow_service.apply_workflow(wctx, _workflow("mixed"), "test")
    good_before = _submit(wctx, "mixed", {"text": "invoice 1"})
    poisoned = _submit(wctx, "mixed", {"text": "invoice 2", "misbehave": "unrecordable"})
    good_after = _submit(wctx, "mixed", {"text": "invoice 3"})
    assert processing.process_batch(wctx, "w1", processing.ProviderCache(wctx), 10) == 3

    assert _row(wctx, good_before).state == "approved"
    assert _row(wctx, good_after).state == "approved"
    bad = _row(wctx, poisoned)
    assert (bad.state, bad.route_reasons) == ("in_review", ["ai_error"])
    assert bad.prediction["error"].startswith("recording failed:")
    assert (bad.lease_owner, bad.lease_expires_at) == (None, None)
    with wctx.sessions() as session:
        assert [tk.status for tk in tasks.list_tasks_for_item(session, poisoned)] == ["open"]
        types = [e.type for e in audit.list_item_events(session, poisoned)]
    assert types == ["received", "claimed", "routed_to_review"]
    checked, problems = audit_service.verify_all(wctx)
    assert checked > 0 and not problems, problems


def test_a_due_time_that_overflows_sends_only_that_workflows_items_to_people(
    db_url: str,
) -> None:
    # Close to the end of the calendar, a 30-day SLA has no representable due time.
    clock = FrozenClock(datetime(9999, 12, 20, tzinfo=UTC))
    ctx = create_context(make_settings(db_url), clock=clock)
    try:
        workflow_service.apply_workflow(ctx, _workflow("plain"), "test")
        # Everything in `slow` goes to a person, and its review tasks would be due in 30 days.
        workflow_service.apply_workflow(
            ctx, {**_workflow("slow", sla_hours=720), "routing": {"threshold": 1.0}}, "test"
        )
        plain = [_submit(ctx, "plain", {"text": f"invoice {n}"}) for n in range(2)]
        slow = [_submit(ctx, "slow", {"text": f"invoice {n}"}) for n in range(2)]
        assert processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 10) == 4

        assert [_row(ctx, i).state for i in plain] == ["approved", "approved"]
        for item_id in slow:
            row = _row(ctx, item_id)
            assert (row.state, row.route_reasons) == ("in_review", ["ai_error"])
            assert "OverflowError" in row.prediction["error"]
            with ctx.sessions() as session:
                [task] = tasks.list_tasks_for_item(session, item_id)
            assert (task.status, task.due_at) == ("open", None)
    finally:
        ctx.close()


def _raise_in_thread(thread_id: int, exc: type[BaseException]) -> None:
    """Raise `exc` asynchronously in another thread, as an interpreter-level failure would."""
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc)
    )
    assert done == 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_thread_that_dies_is_restarted_and_work_goes_on(wctx: Context) -> None:
    workflow_service.apply_workflow(wctx, _workflow("mixed"), "test")
    pool = WorkerPool(wctx, concurrency=1, sender=False)
    pool.start()
    try:
        first = pool.threads[0]
        assert first.name == "signoff-ai-0" and first.ident is not None
        # The loop itself survives anything raised inside a round; keep raising until
        # one lands between rounds, where nothing catches it and the thread dies.
        while first.is_alive():
            _raise_in_thread(first.ident, SystemExit)
            first.join(0.5)
        replacement = _wait_for(
            lambda: pool.threads[0] if pool.threads[0] is not first else None,
            "the supervisor to restart the AI thread",
        )
        assert replacement.name == "signoff-ai-0" and pool.restarts >= 1
        item_id = _submit(wctx, "mixed", {"text": "invoice after restart"})
        _wait_for(lambda: _row(wctx, item_id).state == "approved", "the restarted worker")
        assert pool.dead_threads() == []
    finally:
        pool.stop()


def test_readiness_fails_with_retry_after_when_the_database_does_not_answer(
    tmp_path: Any,
) -> None:
    # A database file under a regular file: no directory can be made there, nothing opens.
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    ctx = create_context(make_settings(f"sqlite:///{blocker}/signoff.db"))
    try:
        with TestClient(create_app(ctx=ctx)) as client:
            assert client.get("/healthz").status_code == 200
            response = client.get("/readyz")
    finally:
        ctx.close()
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    body = response.json()
    assert (body["status"], body["database"], body["error"]) == (
        "not_ready",
        "unavailable",
        "not_ready",
    )
    assert body["detail"] == "the database does not answer"
    assert schemas.ReadyPublic.model_validate(body).database == "unavailable"


def test_signoff_serve_stays_ready_when_a_provider_calls_sys_exit(
    db_url: str, ctx: Context, tmp_path: Any
) -> None:
    keys = Keys(ctx)
    workflow_service.apply_workflow(ctx, _workflow("exits", "sys:exit"), "test")
    port = free_port()
    env = {
        **os.environ,
        "SIGNOFF_DATABASE_URL": db_url,
        "SIGNOFF_ENVIRONMENT": "development",
        "SIGNOFF_WORKER__POLL_SECONDS": "0.05",
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(
            [*cli_command(), "serve", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> httpx.Response | None:
            assert server.poll() is None, log_path.read_text()
            try:
                response = httpx.get(f"{base}/readyz", timeout=10)
            except httpx.TransportError:
                return None
            return response if response.status_code == 200 else None

        assert _wait_for(ready, "signoff serve to be ready").json()["workers"]["status"] == "ok"
        with httpx.Client(base_url=base, headers=keys.auth(keys.admin), timeout=30) as http:
            ids = [
                http.post("/api/v1/workflows/exits/items", json={"content": {"text": "x"}}).json()[
                    "id"
                ]
                for _ in range(3)
            ]

            def routed() -> list[dict[str, Any]] | None:
                found = [http.get(f"/api/v1/items/{i}").json() for i in ids]
                return found if all(f["state"] == "in_review" for f in found) else None

            for found in _wait_for(routed, "the items to reach a person"):
                assert found["route"]["reasons"] == ["ai_error"]
                assert "SystemExit" in found["prediction"]["error"]
        after = httpx.get(f"{base}/readyz", timeout=10)
        assert after.status_code == 200, after.text
        assert after.json()["workers"] == {"status": "ok", "dead": []}
    finally:
        server.terminate()
        server.wait(timeout=30)
