"""A live signoff deployment plus an orchestrator's processes, for the integration acceptance tests.

`signoff serve` runs as a real process (API, workers and the webhook sender) on the
test's database; the orchestrator's server, workers and receivers run as processes
of its own virtualenv (tests/framework_venv.py). Waits end on readiness or progress,
and fail early with every process's log when one of them dies.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from signoff.notify import webhook

REVIEWERS = ("ana@example.com", "ben@example.com")
PATIENCE = 180.0  # a loaded machine starts these servers slowly; only a hang fails
T = TypeVar("T")

WORKFLOW = """
name: docs
labels: [invoice, contract, other]
ai: {provider: fake, retries: 0}
routing: {threshold: 0.85}
review: {outcomes: [approved, rejected]}
delivery: {webhook_url: "WEBHOOK_URL"}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Stack:
    """The processes of one test, their logs, and the keys of its signoff."""

    def __init__(self, db_url: str, workdir: Path) -> None:
        self.workdir = workdir
        self.webhook_secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.env = {
            **os.environ,
            "SIGNOFF_DATABASE_URL": db_url,
            "SIGNOFF_ENVIRONMENT": "development",
            "SIGNOFF_OUTBOUND__ALLOW": "127.0.0.1",
            "SIGNOFF_DELIVERY__WEBHOOK_SECRET": self.webhook_secret,
            "SIGNOFF_DELIVERY__BASE_BACKOFF_SECONDS": "0.5",
            "SIGNOFF_WORKER__POLL_SECONDS": "0.1",
            "SIGNOFF_LOG_LEVEL": "INFO",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        self.url = ""
        self.service_key = ""
        self.reviewer_keys: dict[str, str] = {}

    # -- signoff -----------------------------------------------------------------------
    def signoff(self, *args: str) -> str:
        """Run a short `signoff` command; its stdout."""
        script = Path(sys.executable).parent / "signoff"
        result = subprocess.run(
            [str(script), *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )
        assert result.returncode == 0, f"signoff {args}: {result.stdout}\n{result.stderr}"
        return result.stdout

    def start_signoff(self, webhook_url: str) -> str:
        """Migrate, create keys, apply the `docs` workflow (webhook to `webhook_url`), serve."""
        self.signoff("db", "upgrade")
        self.service_key = self.signoff("keys", "create", "pipeline").strip()
        for email in REVIEWERS:
            self.signoff("users", "add", email, "--role", "reviewer")
            self.reviewer_keys[email] = self.signoff(
                "keys", "create", email.split("@")[0], "--user", email
            ).strip()
        spec = self.workdir / "docs.yaml"
        spec.write_text(WORKFLOW.replace("WEBHOOK_URL", webhook_url))
        self.signoff("workflows", "apply", str(spec))
        port = free_port()
        script = Path(sys.executable).parent / "signoff"
        self.start("signoff", [str(script), "serve", "--port", str(port)], self.env)
        self.url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        self.wait_until(ready, "signoff serve ready")
        return self.url

    def reviewers(self) -> dict[str, httpx.Client]:
        """An API client for each reviewer (each holds one claimed task at a time)."""
        return {
            email: httpx.Client(
                base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
            )
            for email, key in self.reviewer_keys.items()
        }

    def pipeline(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.service_key}"}, timeout=60
        )

    # -- processes ---------------------------------------------------------------------
    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, env=env, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes[name] = process
        return process

    def log_tails(self, lines: int = 60) -> str:
        parts = []
        for name, path in self.logs.items():
            text = path.read_text(errors="replace") if path.exists() else ""
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"--- {name} (last {lines} lines) ---\n{tail}")
        return "\n".join(parts)

    def check_alive(self, *, except_: tuple[str, ...] = ()) -> None:
        for name, process in self.processes.items():
            code = process.poll()
            if name not in except_ and code is not None:
                pytest.fail(f"{name} exited with {code}\n{self.log_tails()}")

    def wait_until(
        self,
        predicate: Callable[[], T],
        what: str,
        *,
        patience: float = PATIENCE,
        may_exit: tuple[str, ...] = (),
    ) -> T:
        """Poll `predicate` until truthy; fail when a process dies or after `patience`."""
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            self.check_alive(except_=may_exit)
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        pytest.fail(f"no sign of {what} after {patience:.0f}s\n{self.log_tails()}")

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@dataclass(frozen=True)
class Claimed:
    """A review task claimed by one reviewer."""

    reviewer: str
    client: httpx.Client
    task: dict[str, Any]

    def decide(self, outcome: str) -> str:
        """Decide it through the REST API; the `decided_by` the decision records."""
        response = self.client.post(
            f"/api/v1/tasks/{self.task['id']}/decision",
            json={"outcome": outcome, "comment": "checked"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "decided", response.text
        return f"user:{self.reviewer}"


def claim_tasks(reviewers: dict[str, httpx.Client], item_ids: set[int]) -> dict[int, Claimed]:
    """Each reviewer claims one task, one for each of `item_ids`; {item_id: claimed task}."""
    claimed: dict[int, Claimed] = {}
    for email, client in list(reviewers.items())[: len(item_ids)]:
        response = client.post("/api/v1/reviews/claim")
        assert response.status_code == 200, response.text
        task = response.json()
        assert task["item_id"] in item_ids, f"an unexpected item to review: {task}"
        claimed[task["item_id"]] = Claimed(email, client, task)
    assert set(claimed) == item_ids, f"claimed {sorted(claimed)}, expected {sorted(item_ids)}"
    return claimed


def _post_signed(url: str, body: str, secret: str) -> int:
    headers = webhook.signed_headers(secret, "msg_test", body, datetime.now(UTC))
    return httpx.post(url, content=body, headers=headers, timeout=30).status_code


def post_decision(url: str, secret: str, external_id: str) -> int:
    """POST a signed decision webhook for an item with `external_id`; the status answered."""
    data = {"item_id": 999, "external_id": external_id, "outcome": "approved"}
    return _post_signed(url, json.dumps({"type": "item.decided", "data": data}), secret)


def check_receiver_refuses_forgeries(url: str, secret: str) -> None:
    """A webhook receiver answers 401 to bad signatures, 413 to huge bodies, 204 to others' items."""

    def post(body: str, key: str) -> int:
        return _post_signed(url, body, key)

    decided = {"type": "item.decided", "data": {"item_id": 999, "external_id": "billing-7"}}
    other_secret = webhook.derive_secret("not the server's key")
    assert post(json.dumps(decided), other_secret) == 401
    assert httpx.post(url, content=json.dumps(decided), timeout=30).status_code == 401
    assert post(json.dumps(decided), secret) == 204
    assert post(json.dumps({"type": "item.created", "data": {}}), secret) == 204
    assert post("x" * (1024 * 1024 + 1), secret) == 413


def items_by_text(pipeline: httpx.Client) -> dict[str, dict[str, Any]]:
    """The items the pipeline's key sees (at most 100), by their content's `text`."""
    response = pipeline.get("/api/v1/items", params={"limit": 100})
    assert response.status_code == 200, response.text
    return {i["content"]["text"]: i for i in response.json()["items"]}


def python_blocks(page: Path) -> list[str]:
    """Every ```python block of a markdown page."""
    return [str(b) for b in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)]


def doc_example(page: Path, first_line: str) -> str:
    """The python block of `page` whose first line is `first_line`."""
    for block in python_blocks(page):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"{page} has no python block starting {first_line!r}")
