"""A worker killed with SIGKILL mid-lease: real processes, real HTTP, SQLite and PostgreSQL.

The whole deployment runs as separate `signoff` processes (an API server without
workers, two workers, a replacement worker); the test plays the submitting
application and a reviewer over HTTP, kills one worker while it holds leases, and
checks that every item is decided exactly once with an intact audit trail.

It waits on readiness and on progress, never on the wall clock: on a loaded machine
processes start slowly and work goes slowly, so a wait fails only when a process
died or nothing moved for `PATIENCE` seconds.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

# The waits below end on progress; the timeout only stops a run that hangs outright, and
# is far above the suite's default because a loaded machine may take minutes here.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ITEMS = 60
SLEEP = 0.5  # seconds the fake provider spends on each item: 5 items = 2.5 s in one lease
PATIENCE = 120.0  # fail when nothing has moved for this long

WORKFLOW = """
name: crash
labels: [invoice, contract, other]
ai: {provider: fake, retries: 0}
routing: {threshold: 0.85}
review: {outcomes: [approved, rejected]}
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Deployment:
    """The `signoff` processes of one test and their logs, all stopped by `close`."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.url = url
        self.workdir = workdir
        self.env = {
            **os.environ,
            "SIGNOFF_DATABASE_URL": url,
            "SIGNOFF_ENVIRONMENT": "development",
            "SIGNOFF_WORKER__LEASE_SECONDS": "3",
            "SIGNOFF_WORKER__BATCH_SIZE": "5",
            "SIGNOFF_WORKER__POLL_SECONDS": "0.1",
            "SIGNOFF_LOG_LEVEL": "INFO",
            "COLUMNS": "200",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a short `signoff` command to completion; fail the test if it fails."""
        result = subprocess.run(
            [*self._signoff(), *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=PATIENCE,  # only a hung command: each one has all the time it needs
        )
        assert result.returncode == 0, (
            f"signoff {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        return result

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*self._signoff(), *args],
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes[name] = process
        return process

    def log_tails(self) -> str:
        parts = []
        for name, path in self.logs.items():
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- {name} (last 40 lines) ---\n" + "\n".join(text.splitlines()[-40:]))
        return "\n".join(parts)

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    @staticmethod
    def _signoff() -> list[str]:
        # The console script installed next to this interpreter (not a pyenv/virtualenv shim).
        script = Path(sys.executable).parent / "signoff"
        if script.exists():
            return [str(script)]
        return [sys.executable, "-c", "from signoff.cli import main; main()"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def crash_db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database on each dialect (fixtures sqlite_url / pg_url)."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def deployment(crash_db_url: str, tmp_path: Path) -> Iterator[Deployment]:
    deploy = Deployment(crash_db_url, tmp_path)
    try:
        yield deploy
    finally:
        deploy.close()


def _wait_until(
    predicate: Any, what: str, deploy: Deployment, *, alive: tuple[str, ...] = ()
) -> Any:
    """Poll `predicate` until it holds; fail if a process in `alive` exits, or after PATIENCE."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        for name in alive:
            code = deploy.processes[name].poll()
            assert code is None, f"{name} exited with {code}\n{deploy.log_tails()}"
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"no sign of {what} after {PATIENCE:.0f}s\n{deploy.log_tails()}")


def _leases_by_owner(url: str) -> dict[str, int]:
    """How many items each worker holds a lease on right now (read straight from the DB)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT lease_owner, count(*) AS n FROM items "
                    "WHERE state = 'processing' AND lease_owner IS NOT NULL GROUP BY lease_owner"
                )
            )
            return {str(r.lease_owner): int(r.n) for r in rows}
    finally:
        engine.dispose()


def _all_items(http: httpx.Client) -> list[dict[str, Any]]:
    response = http.get("/api/v1/items", params={"limit": 500})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_killed_worker_leases_are_recovered_and_every_item_is_decided_once(
    deployment: Deployment,
) -> None:
    deploy = deployment
    deploy.run("db", "upgrade")
    deploy.run("users", "add", "reviewer@example.com", "--role", "reviewer")
    service_key = deploy.run("keys", "create", "app").stdout.strip()
    reviewer_key = deploy.run(
        "keys", "create", "reviewer", "--user", "reviewer@example.com"
    ).stdout.strip()
    assert service_key.startswith("sk_") and reviewer_key.startswith("sk_")
    (deploy.workdir / "crash.yaml").write_text(WORKFLOW)
    assert "version 1" in deploy.run("workflows", "apply", "crash.yaml").stdout

    port = _free_port()
    server = deploy.start("serve", "serve", "--port", str(port), "--no-workers")
    worker_a = deploy.start("worker-a", "worker")
    worker_b = deploy.start("worker-b", "worker")

    base = f"http://127.0.0.1:{port}"
    app = httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {service_key}"}, timeout=60
    )
    reviewer = httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {reviewer_key}"}, timeout=60
    )
    try:

        def server_ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        _wait_until(server_ready, "a ready API server", deploy, alive=("serve",))
        assert server.poll() is None

        # Submit: even items are confident (auto), odd ones go to a person.
        expected_route: dict[int, str] = {}
        for n in range(ITEMS):
            confident = n % 2 == 0
            content = {
                "text": f"document {n}",
                "label": "invoice" if confident else "other",
                "confidence": 0.95 if confident else 0.5,
                "sleep": SLEEP,
            }
            response = app.post(
                "/api/v1/workflows/crash/items",
                json={"content": content, "external_id": f"doc-{n}"},
                headers={"Idempotency-Key": f"doc-{n}"},
            )
            assert response.status_code == 201, response.text
            expected_route[response.json()["id"]] = "auto" if confident else "human"
        assert len(expected_route) == ITEMS

        # Wait until the workers hold leases, then SIGKILL one that does.
        def processing() -> bool:
            response = app.get("/api/v1/items", params={"state": "processing", "limit": 500})
            assert response.status_code == 200, response.text
            return len(response.json()["items"]) > 0

        workers = ("worker-a", "worker-b")
        _wait_until(processing, "items in processing", deploy, alive=workers)
        holders = _wait_until(
            lambda: _leases_by_owner(deploy.url), "a lease owner", deploy, alive=workers
        )
        pids = {worker_a.pid: worker_a, worker_b.pid: worker_b}
        # Lease owners are named `<host>-<pid>-<random>-<thread>` (workers.runner.WorkerPool).
        host = socket.gethostname()
        victim = next(
            (pids[pid] for pid in pids for owner in holders if owner.startswith(f"{host}-{pid}-")),
            None,
        )
        assert victim is not None, f"no worker process holds these leases: {holders}"
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=10) == -signal.SIGKILL
        survivor = worker_b if victim is worker_a else worker_a
        # A replacement worker joins, as a supervisor would start one.
        replacement = deploy.start("worker-c", "worker")

        # The reviewer decides every human task until every item is decided; the run
        # fails only if nothing at all moves (no decision, no lease taken) for PATIENCE.
        decided_by_reviewer: set[int] = set()
        last_seen: tuple[Any, ...] = ()
        last_progress = time.monotonic()
        while True:
            assert survivor.poll() is None, f"a worker died\n{deploy.log_tails()}"
            assert replacement.poll() is None, f"a worker died\n{deploy.log_tails()}"
            claim = reviewer.post("/api/v1/reviews/claim")
            if claim.status_code == 200:
                task = claim.json()
                assert task["item_id"] not in decided_by_reviewer
                assert expected_route[task["item_id"]] == "human", task
                outcome = "approved" if task["item_id"] % 4 == 1 else "rejected"
                decision = reviewer.post(
                    f"/api/v1/tasks/{task['id']}/decision",
                    json={"outcome": outcome, "comment": "checked"},
                )
                assert decision.status_code == 200, decision.text
                assert decision.json()["status"] == "decided"
                decided_by_reviewer.add(task["item_id"])
                continue
            assert claim.status_code == 204, claim.text
            states = {i["id"]: i["state"] for i in _all_items(app)}
            if len(states) == ITEMS and all(s in ("approved", "rejected") for s in states.values()):
                break
            seen = (sorted(states.items()), sorted(_leases_by_owner(deploy.url).items()))
            if seen != last_seen:
                last_seen, last_progress = seen, time.monotonic()
            elif time.monotonic() - last_progress > PATIENCE:
                open_items = sorted(
                    (i, s) for i, s in states.items() if s not in ("approved", "rejected")
                )
                pytest.fail(
                    f"no progress for {PATIENCE:.0f}s; still open: {open_items}\n"
                    f"{deploy.log_tails()}"
                )
            time.sleep(0.2)

        assert decided_by_reviewer == {i for i, r in expected_route.items() if r == "human"}

        # Every item: decided exactly once, by the route it was meant to take, chain intact.
        recovered = 0
        for item_id, route in expected_route.items():
            response = app.get(f"/api/v1/items/{item_id}/events")
            assert response.status_code == 200, response.text
            trail = response.json()
            assert trail["verified"] is True, trail["problems"]
            types = [e["type"] for e in trail["events"]]
            decisions = [t for t in types if t in ("auto_decided", "decided")]
            assert len(decisions) == 1, (item_id, types)
            assert decisions[0] == ("auto_decided" if route == "auto" else "decided"), types
            assert [e["seq"] for e in trail["events"]] == list(range(1, len(types) + 1))
            recovered += types.count("lease_recovered")
            item = app.get(f"/api/v1/items/{item_id}").json()
            assert item["decision"] is not None
            assert item["decision"]["decided_by"] == (
                "ai" if route == "auto" else "user:reviewer@example.com"
            )
        assert recovered >= 1, "the killed worker held no lease that another worker recovered"

        verify = deploy.run("audit", "verify")
        assert "every chain intact" in verify.stdout
    finally:
        app.close()
        reviewer.close()
