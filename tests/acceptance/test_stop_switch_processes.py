"""The stop switch across processes: a pause set through one reaches the others at once.

Separate `signoff serve --no-workers` and `signoff worker` processes share only the
database (SQLite and PostgreSQL). A pause set through the API server's REST API must
make the separate worker send every item to people; a pause set by a third process
(the CLI) must make the API server refuse intake on its next request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance import test_crash_recovery as processes
from tests.acceptance.test_multiprocess import Running

pytestmark = pytest.mark.slow

WORKFLOW = """
name: docs
labels: [invoice, other]
ai: {provider: fake, retries: 0}
routing: {threshold: 0.8}
review: {outcomes: [approved, rejected]}
"""
CONFIDENT = {"text": "an invoice", "label": "invoice", "confidence": 0.99}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[processes.Deployment]:
    url = str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    deploy = processes.Deployment(url, tmp_path)
    try:
        yield deploy
    finally:
        deploy.close()


def test_a_pause_reaches_a_separate_worker_and_server_and_resuming_restores_auto(
    deployment: processes.Deployment,
) -> None:
    running = Running(deployment, WORKFLOW)
    try:
        deployment.run("users", "add", "admin@example.com", "--role", "admin")
        admin_key = deployment.run(
            "keys", "create", "admin", "--user", "admin@example.com"
        ).stdout.strip()
        admin = httpx.Client(
            base_url=str(running.app.base_url),
            headers={"Authorization": f"Bearer {admin_key}"},
            timeout=10,
        )
        [before] = running.submit("docs", [CONFIDENT])
        running.wait(lambda: running.settled([before], ("approved",)), "the auto decision")

        paused = admin.post(
            "/api/v1/workflows/docs/pause", json={"mode": "all_to_people", "reason": "drill"}
        )
        assert paused.status_code == 200, paused.text
        started = time.monotonic()
        during = running.submit("docs", [CONFIDENT] * 6)
        found = running.wait(
            lambda: running.settled(during, ("in_review", "approved")), "routing while paused"
        )
        delay = time.monotonic() - started
        assert all(i["state"] == "in_review" for i in found), [i["state"] for i in found]
        assert all(i["route"]["reasons"][0] == "paused" for i in found)
        print(f"paused items routed by the separate worker within {delay:.2f}s")

        deployment.run("workflows", "pause", "docs", "--mode", "refuse", "--reason", "cli")
        refused = running.app.post("/api/v1/workflows/docs/items", json={"content": CONFIDENT})
        assert refused.status_code == 503, refused.text
        assert refused.json()["paused"]["mode"] == "refuse"
        shown = running.auditor.get("/api/v1/workflows/docs").json()
        assert shown["pause"]["by"] == "cli" and shown["pause"]["reason"] == "cli"

        assert admin.post("/api/v1/workflows/docs/resume").status_code == 200
        [after] = running.submit("docs", [CONFIDENT])
        running.wait(lambda: running.settled([after], ("approved",)), "auto after resuming")
        admin.close()
    finally:
        running.close()
