"""Two orgs on one deployment: their items, tasks, events, metrics and webhooks never cross.

Real, separate `signoff serve --no-workers` and `signoff worker` processes on SQLite and
PostgreSQL. Each org has its own application key, reviewer, admin and webhook receiver,
all made with the CLI as an operator would.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import signoff_stack, webhook_server

pytestmark = pytest.mark.slow

ORGS = ("acme", "globex")
WORKFLOW = """
name: NAME
labels: [invoice, contract, other]
ai: {provider: fake, retries: 0}
routing: {threshold: 0.85, always_review_labels: [contract]}
review: {outcomes: [approved, rejected]}
delivery: {webhook_url: "URL"}
"""


class Receiver:
    """One org's webhook endpoint: every decision body it was sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, body: bytes, headers: dict[str, str]) -> int:
        with self.lock:
            self.bodies.append(json.loads(body))
        return 200

    def item_ids(self) -> set[int]:
        with self.lock:
            return {int(b["data"]["item_id"]) for b in self.bodies}

    def workflows(self) -> set[str]:
        with self.lock:
            return {str(b["data"]["workflow"]) for b in self.bodies}


def _client(stack: signoff_stack.Stack, key: str) -> httpx.Client:
    return httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def test_two_orgs_share_a_deployment_and_nothing_crosses(
    db_stack: signoff_stack.Stack, tmp_path: Path
) -> None:
    stack = db_stack
    receivers = {org: Receiver() for org in ORGS}
    with (
        webhook_server.serving(receivers["acme"]) as acme_url,
        webhook_server.serving(receivers["globex"]) as globex_url,
    ):
        urls = {"acme": acme_url, "globex": globex_url}
        stack.signoff("db", "upgrade")
        keys: dict[str, dict[str, str]] = {}
        for org in ORGS:
            stack.signoff("orgs", "add", org)
            for role in ("reviewer", "admin"):
                stack.signoff("users", "add", f"{role}@{org}.test", "--role", role, "--org", org)
            keys[org] = {
                "app": stack.signoff("keys", "create", "app", "--org", org).strip(),
                "reviewer": stack.signoff(
                    "keys", "create", "rev", "--user", f"reviewer@{org}.test"
                ).strip(),
                "admin": stack.signoff(
                    "keys", "create", "adm", "--user", f"admin@{org}.test"
                ).strip(),
            }
            spec = tmp_path / f"{org}.yaml"
            spec.write_text(WORKFLOW.replace("NAME", f"{org}-docs").replace("URL", urls[org]))
            stack.signoff("workflows", "apply", str(spec), "--org", org)
        port = signoff_stack.free_port()
        signoff = str(Path(sys.executable).parent / "signoff")
        stack.start("serve", [signoff, "serve", "--port", str(port), "--no-workers"], stack.env)
        stack.start("worker", [signoff, "worker", "--concurrency", "2"], stack.env)
        stack.url = f"http://127.0.0.1:{port}"
        stack.wait_until(lambda: _ready(stack.url), "signoff serve ready")

        clients = {org: {k: _client(stack, v) for k, v in keys[org].items()} for org in ORGS}
        submitted: dict[str, set[int]] = {}
        for org in ORGS:
            contents = [{"label": "invoice", "confidence": 0.99} for _ in range(3)]
            contents += [{"label": "contract", "confidence": 0.99} for _ in range(3)]
            batch = clients[org]["app"].post(
                f"/api/v1/workflows/{org}-docs/items/batch",
                json={
                    "items": [
                        {"content": c, "external_id": f"{org}-{i}"} for i, c in enumerate(contents)
                    ]
                },
            )
            assert batch.status_code == 201, batch.text
            submitted[org] = {int(i["id"]) for i in batch.json()["items"]}

        def reviewed(org: str) -> bool:
            """Claim and decide what the org's reviewer is offered; True once 3 are decided."""
            reviewer = clients[org]["reviewer"]
            claim = reviewer.post("/api/v1/reviews/claim")
            if claim.status_code == 200:
                task = claim.json()
                assert task["item"]["workflow"] == f"{org}-docs", task
                assert task["item_id"] in submitted[org]
                decided = reviewer.post(
                    f"/api/v1/tasks/{task['id']}/decision", json={"outcome": "approved"}
                )
                assert decided.status_code == 200, decided.text
            listed = clients[org]["admin"].get(f"/api/v1/items?workflow={org}-docs&limit=100")
            states = [i["state"] for i in listed.json()["items"]]
            return len(states) == 6 and all(s == "approved" for s in states)

        for org in ORGS:
            stack.wait_until(lambda org=org: reviewed(org), f"{org}'s reviews")  # type: ignore[misc]
        for org in ORGS:
            stack.wait_until(
                lambda org=org: receivers[org].item_ids() >= submitted[org],  # type: ignore[misc]
                f"{org}'s webhooks",
            )

        acme, globex = clients["acme"], clients["globex"]
        for org, other in (("acme", "globex"), ("globex", "acme")):
            # Webhooks: each receiver heard only of its own org's items.
            assert receivers[org].item_ids() == submitted[org]
            assert receivers[org].workflows() == {f"{org}-docs"}
            mine = clients[org]
            # Items, events and listings of the other org are not there for any of its keys.
            foreign = next(iter(submitted[other]))
            for role in ("app", "reviewer", "admin"):
                for path in (f"/api/v1/items/{foreign}", f"/api/v1/items/{foreign}/events"):
                    assert mine[role].get(path).status_code == 404, (org, role, path)
                listed = mine[role].get("/api/v1/items?limit=100").json()["items"]
                assert {i["id"] for i in listed} == submitted[org], (org, role)
            # Metrics count only the org's own items.
            summary = mine["admin"].get("/api/v1/metrics/summary").json()
            assert summary["items_received"] == 6, summary
            assert summary["decisions"]["total"] == 6
            assert summary["decisions"]["human"] == 3
            assert [
                w["name"] for w in mine["admin"].get("/api/v1/workflows").json()["workflows"]
            ] == [f"{org}-docs"]
        # Neither org's reviewer was ever offered the other's task (checked in each claim);
        # nothing is left waiting for either.
        assert acme["reviewer"].post("/api/v1/reviews/claim").status_code == 204
        assert globex["reviewer"].post("/api/v1/reviews/claim").status_code == 204


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False
