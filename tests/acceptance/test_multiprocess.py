"""Evidence gathered in one process changes what another does, without a restart.

Separate `signoff serve --no-workers` and `signoff worker` processes share only the
database (SQLite and PostgreSQL). Reviewers decide through the REST API served by one;
the other routes items and retrains the built-in model. The worker must start
auto-deciding once reviewers have earned a threshold, agree with the calibration
endpoint on that threshold, and score with a model it retrained itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from signoff.demo import documents
from tests.acceptance import test_crash_recovery as processes

pytestmark = pytest.mark.slow


BUDGET_WORKFLOW = """
name: budget
labels: [ok, bad]
ai: {provider: fake, retries: 0}
routing: {error_budget: 0.1, confidence_level: 0.9, min_reviewed: 30}
review: {outcomes: [approved, rejected]}
"""

LEARNING_WORKFLOW = """
name: docs-ml
labels: [invoice, contract, receipt, other]
ai: {provider: builtin, retries: 0}
routing: {threshold: 0.99}
review: {outcomes: [approved, rejected]}
training: {min_labels: 20, retrain_every: 1000, retrain_min_interval_seconds: 0}
"""


class Running:
    """A deployment with an API server, one worker, and clients for the app and a reviewer."""

    def __init__(self, deploy: processes.Deployment, workflow: str) -> None:
        self.deploy = deploy
        deploy.env["SIGNOFF_WORKER__RETRAIN_POLL_SECONDS"] = "0.2"
        deploy.run("db", "upgrade")
        deploy.run("users", "add", "reviewer@example.com", "--role", "reviewer")
        deploy.run("users", "add", "auditor@example.com", "--role", "auditor")
        service_key = deploy.run("keys", "create", "app").stdout.strip()
        reviewer_key = deploy.run(
            "keys", "create", "reviewer", "--user", "reviewer@example.com"
        ).stdout.strip()
        auditor_key = deploy.run(
            "keys", "create", "auditor", "--user", "auditor@example.com"
        ).stdout.strip()
        (deploy.workdir / "workflow.yaml").write_text(workflow)
        assert "version 1" in deploy.run("workflows", "apply", "workflow.yaml").stdout
        port = processes._free_port()
        self.server = deploy.start("serve", "serve", "--port", str(port), "--no-workers")
        self.worker = deploy.start("worker", "worker", "--concurrency", "1")
        base = f"http://127.0.0.1:{port}"
        self.app = self._client(base, service_key)
        self.reviewer = self._client(base, reviewer_key)
        self.auditor = self._client(base, auditor_key)
        self.wait(lambda: self._up(base), "the API server")

    @staticmethod
    def _client(base: str, key: str) -> httpx.Client:
        return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10)

    def _up(self, base: str) -> bool:
        self.alive()
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def alive(self) -> None:
        for name, process in self.deploy.processes.items():
            assert process.poll() is None, f"{name} exited\n{self.deploy.log_tails()}"

    def wait(self, predicate: Any, what: str) -> Any:
        def checked() -> Any:
            self.alive()
            return predicate()

        return processes._wait_until(checked, what, self.deploy)

    def submit(self, workflow: str, contents: list[dict[str, Any]]) -> list[int]:
        response = self.app.post(
            f"/api/v1/workflows/{workflow}/items/batch",
            json={"items": [{"content": c} for c in contents]},
        )
        assert response.status_code in (200, 201), response.text
        return [int(i["id"]) for i in response.json()["items"]]

    def item(self, item_id: int) -> dict[str, Any]:
        response = self.app.get(f"/api/v1/items/{item_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def settled(self, ids: list[int], states: tuple[str, ...]) -> list[dict[str, Any]] | None:
        """The items, once every one is in one of `states`; None before."""
        found = [self.item(i) for i in ids]
        return found if all(i["state"] in states for i in found) else None

    def review_all(self, decide: Any) -> int:
        """Claim and decide open tasks through the REST API until none is left."""
        decided = 0
        while (claim := self.reviewer.post("/api/v1/reviews/claim")).status_code == 200:
            task = claim.json()
            response = self.reviewer.post(
                f"/api/v1/tasks/{task['id']}/decision", json=decide(task["item"])
            )
            assert response.status_code == 200, response.text
            decided += 1
        assert claim.status_code == 204, claim.text
        return decided

    def close(self) -> None:
        for client in (self.app, self.reviewer, self.auditor):
            client.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[processes.Deployment]:
    """The processes of one test, on a fresh database of each dialect."""
    url = str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    deploy = processes.Deployment(url, tmp_path)
    try:
        yield deploy
    finally:
        deploy.close()


def _model_versions(url: str) -> list[tuple[int, int]]:
    """(version, n_labels) of every stored model, read straight from the database."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT version, n_labels FROM model_versions ORDER BY version")
            )
            return [(int(r.version), int(r.n_labels)) for r in rows]
    finally:
        engine.dispose()


def test_worker_auto_decides_once_reviewers_in_the_api_process_earned_a_threshold(
    deployment: processes.Deployment,
) -> None:
    run = Running(deployment, BUDGET_WORKFLOW)
    try:
        # 80 items: confident ones are right, unsure ones are wrong a quarter of the time.
        first = run.submit(
            "budget",
            [
                {"text": f"doc {n}", "label": "ok", "confidence": 0.95 if n % 2 == 0 else 0.55}
                for n in range(80)
            ],
        )
        routed = run.wait(lambda: run.settled(first, ("in_review",)), "the first items routed")
        # The worker had no evidence: every item went to a person.
        assert {tuple(i["route"]["reasons"]) for i in routed} == {
            ("not enough reviewed items to set a threshold",)
        }
        worker_pid = run.worker.pid

        def decide(item: dict[str, Any]) -> dict[str, Any]:
            wrong = item["prediction"]["confidence"] < 0.9 and item["id"] % 4 == 0
            return {"outcome": "approved", "labels": ["bad" if wrong else "ok"]}

        assert run.review_all(decide) == 80
        calibration = run.auditor.get("/api/v1/workflows/budget/calibration")
        assert calibration.status_code == 200, calibration.text
        report = calibration.json()
        assert report["reviewed"] == 80
        threshold = report["threshold"]
        assert threshold is not None and report["auto_error_upper_bound"] <= 0.1

        # Same worker process, no restart: confident items are now decided automatically,
        # under the threshold the calibration endpoint reports.
        second = run.submit(
            "budget", [{"text": f"new {n}", "label": "ok", "confidence": 0.97} for n in range(10)]
        )
        decided = run.wait(
            lambda: run.settled(second, ("approved", "rejected", "in_review")),
            "the new items routed",
        )
        assert run.worker.pid == worker_pid and run.worker.poll() is None
        assert [i["state"] for i in decided] == ["approved"] * 10, [i["route"] for i in decided]
        for item in decided:
            assert item["route"]["route"] == "auto"
            assert item["route"]["threshold"] == threshold
            assert item["route"]["reasons"] == [f"confidence 0.97 >= {threshold:.2f}"]
            assert item["decision"]["decided_by"] == "ai"
        report = run.auditor.get("/api/v1/workflows/budget/calibration").json()
        assert report["threshold"] == threshold and report["auto_decided"] == 10
    finally:
        run.close()


def test_worker_retrains_the_model_from_reviewers_decisions_and_scores_with_it(
    deployment: processes.Deployment,
) -> None:
    run = Running(deployment, LEARNING_WORKFLOW)
    try:
        corpus = list(documents.generate(30, seed=3))
        first = run.submit("docs-ml", [{"text": text} for text, _ in corpus])
        truth = dict(zip(first, (label for _, label in corpus), strict=True))
        routed = run.wait(lambda: run.settled(first, ("in_review",)), "the cold-start items")
        assert all(i["prediction"]["confidence"] is None for i in routed)

        def decide(item: dict[str, Any]) -> dict[str, Any]:
            return {"outcome": "approved", "labels": [truth[item["id"]]]}

        assert run.review_all(decide) == 30

        # The worker's retrain loop trains version 1 once 20 labels exist (while the
        # reviewer is still deciding, or after); the API server (no workers) never trains.
        def trained_in_worker() -> bool:
            return "action=model_trained" in run.deploy.logs["worker"].read_text(errors="replace")

        run.wait(trained_in_worker, "a model trained by the worker")
        assert "action=model_trained" not in run.deploy.logs["serve"].read_text(errors="replace")
        [(version, n_labels)] = _model_versions(run.deploy.url)
        assert version == 1 and 20 <= n_labels <= 30

        # The worker picks a new model up within its bounded delay (a version probe, about a
        # second): probe one item at a time until one is scored by it, then all must be.
        probes = (text for text, _ in documents.generate(200, seed=11))

        def scored_by_the_new_model() -> bool:
            [probe] = run.submit("docs-ml", [{"text": next(probes)}])
            [item] = run.wait(
                lambda: run.settled([probe], ("in_review", "approved", "rejected")), "a probe"
            )
            return bool(item["prediction"]["model_version"] == "1")

        run.wait(scored_by_the_new_model, "the worker scoring with the new model")
        later = run.submit("docs-ml", [{"text": text} for text, _ in documents.generate(10, 7)])
        scored = run.wait(
            lambda: run.settled(later, ("in_review", "approved", "rejected")), "the later items"
        )
        for item in scored:
            assert item["prediction"]["model"] == "builtin"
            assert item["prediction"]["model_version"] == "1", item["prediction"]
            assert 0.0 < item["prediction"]["confidence"] <= 1.0
    finally:
        run.close()
