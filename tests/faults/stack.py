"""A deployment of real `signoff` processes for fault scenarios, with recorded traffic.

Built on the crash-recovery test's `Deployment` and `_wait_until` (processes, logs,
waits that end on progress); adds the set-up every scenario repeats and clients whose
exchanges land in one `Traffic` for the invariant checker.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx

from signoff.services import workflows as workflow_service
from signoff.services.context import create_context
from signoff.storage import migrate
from tests.acceptance import test_crash_recovery as processes
from tests.conftest import Keys, make_settings
from tests.faults import traffic as wire

CHECKOUT = Path(__file__).resolve().parents[2]
#: One secret for the test process and the processes under test (sessions, webhooks).
SECRET_KEY = "fault-suite-secret-key-0123456789abcdef"


class Stack:
    """One deployment: database, users and keys, a workflow, and `signoff` processes."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.deploy = processes.Deployment(url, workdir)
        self.url = url
        # Webhook receivers and model fakes listen on 127.0.0.1; test helpers
        # (tests.faults.gated) must be importable by every process.
        self.deploy.env.update(
            {
                "SIGNOFF_OUTBOUND__ALLOW": "127.0.0.1",
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(CHECKOUT), os.environ.get("PYTHONPATH", "")) if p
                ),
            }
        )
        self.deploy.env["SIGNOFF_SECRET_KEY"] = SECRET_KEY
        self.traffic = wire.Traffic()
        self.base = ""
        self.keys: Keys | None = None

    def prepare(self, workflow: str) -> None:
        """Migrate, add users and keys (tests.conftest.Keys), and apply `workflow`.

        Done in this process through signoff's services: the processes under test read
        the same database, and a dozen CLI start-ups would cost a loaded machine minutes.
        """
        migrate.upgrade(self.url)
        ctx = create_context(make_settings(self.url, secret_key=SECRET_KEY))
        try:
            self.keys = Keys(ctx)
            workflow_service.apply_workflow(ctx, workflow, "admin@example.com")
        finally:
            ctx.close()

    def serve(self, name: str = "serve", *, workers: bool = False, port: int | None = None) -> int:
        """Start `signoff serve` (without workers unless asked) and wait until it is ready."""
        port = port or processes._free_port()
        args = ["serve", "--port", str(port)]
        if not workers:
            args.append("--no-workers")
        self.deploy.start(name, *args)
        self.base = f"http://127.0.0.1:{port}"
        self.wait(self.ready, f"a ready {name}", alive=(name,))
        return port

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.base}/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def worker(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        """Start a `signoff worker` process with extra environment variables."""
        saved = dict(self.deploy.env)
        self.deploy.env.update(env)
        try:
            return self.deploy.start(name, "worker")
        finally:
            self.deploy.env.clear()
            self.deploy.env.update(saved)

    def kill(self, name: str) -> None:
        """SIGKILL one process and reap it."""
        process = self.deploy.processes[name]
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL

    def app(self, **kwargs: Any) -> httpx.Client:
        assert self.keys is not None, "prepare() first"
        return self.traffic.client(self.base, self.keys.service, "app", **kwargs)

    def admin(self) -> httpx.Client:
        assert self.keys is not None, "prepare() first"
        return self.traffic.client(self.base, self.keys.admin, "admin@example.com")

    def reviewer(self, n: int = 1) -> httpx.Client:
        """reviewer@example.com (1) or reviewer2@example.com (2)."""
        assert self.keys is not None, "prepare() first"
        token = self.keys.reviewer if n == 1 else self.keys.reviewer2
        return self.traffic.client(self.base, token, "reviewer" if n == 1 else "reviewer2")

    def wait(self, predicate: Any, what: str, *, alive: tuple[str, ...] = ()) -> Any:
        return processes._wait_until(predicate, what, self.deploy, alive=alive)

    def pid_prefix(self, name: str) -> str:
        """The prefix of lease owners of this process (`<host>-<pid>-`)."""
        return f"{socket.gethostname()}-{self.deploy.processes[name].pid}-"

    def close(self) -> None:
        self.deploy.close()
