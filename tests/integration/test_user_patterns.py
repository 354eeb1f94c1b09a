"""A catastrophic-backtracking entity pattern inside a real `signoff serve` process (API and
workers in one process): the items are decided and the API answers throughout."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import live_server
from tests.conftest import Keys
from tests.integration import test_cli

# With a backtracking engine, `(a+)+$` takes 2**n steps on n a's followed by a non-match.
WORKFLOW = """
name: runs
labels: [invoice, other]
entities:
  - type: tail
    patterns: ['(a+)+$']
"""
DEADLINE = 60.0


@pytest.fixture
def server(db_url: str, keys: Keys, tmp_path: Path) -> Iterator[httpx.Client]:
    port = live_server.free_port()
    env = {
        **os.environ,
        "SIGNOFF_DATABASE_URL": db_url,
        "SIGNOFF_ENVIRONMENT": "development",
        "SIGNOFF_WORKER__POLL_SECONDS": "0.1",
    }
    env.pop("SIGNOFF_SECRET_KEY", None)
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [*test_cli._signoff(), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers=keys.auth(keys.admin), timeout=10
    )
    try:
        deadline = time.monotonic() + DEADLINE
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if client.get("/api/v1/workflows").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "signoff serve did not start"
            time.sleep(0.1)
        yield client
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def _wait_decided(client: httpx.Client, item_id: int) -> tuple[dict[str, Any], int]:
    """Poll the item until the AI step is done; every poll must be answered."""
    answered = 0
    deadline = time.monotonic() + DEADLINE
    while True:
        response = client.get(f"/api/v1/items/{item_id}")  # times out if the API is frozen
        assert response.status_code == 200, response.text
        answered += 1
        body = response.json()
        if body["state"] not in ("received", "processing"):
            return body, answered
        assert time.monotonic() < deadline, f"item {item_id} still {body['state']}"
        time.sleep(0.05)


def test_backtracking_pattern_on_long_items_is_processed_while_the_api_keeps_answering(
    server: httpx.Client,
) -> None:
    applied = server.put("/api/v1/workflows/runs", content=WORKFLOW)
    assert applied.status_code == 201, applied.text
    texts = ["a" * 30_000 + "!", "b " + "a" * 30_000, "a" * 28 + "!"]
    ids = []
    for text in texts:
        submitted = server.post("/api/v1/workflows/runs/items", json={"content": {"text": text}})
        assert submitted.status_code == 201, submitted.text
        ids.append(submitted.json()["id"])

    decided = [_wait_decided(server, item_id)[0] for item_id in ids]

    # Cold start: no model yet, so every item goes to a person, entities extracted.
    assert [d["state"] for d in decided] == ["in_review"] * 3
    entities = [d["prediction"]["entities"] for d in decided]
    assert entities[0] == [] and entities[2] == []
    assert [(e["type"], e["start"], e["end"]) for e in entities[1]] == [("tail", 2, 30_002)]
    assert server.get("/api/v1/items").status_code == 200


def test_a_pattern_re2_cannot_run_is_refused_at_apply_naming_the_field(
    server: httpx.Client,
) -> None:
    text = WORKFLOW.replace("'(a+)+$'", "'(a)\\1'")
    response = server.put("/api/v1/workflows/runs", content=text)
    assert response.status_code == 422
    assert response.json()["field"] == "entities.0.patterns"
    assert "RE2" in response.json()["detail"]
