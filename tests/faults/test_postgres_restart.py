"""PostgreSQL stopped and started again under load, on a private cluster the test owns.

`signoff serve` (with workers) and a `signoff worker` run on it while two clients
submit; the cluster goes down mid-load and comes back. While it is down the API
answers 503 with Retry-After; afterwards every acknowledged item is there, every item
ends decided once, and the processes carry on without a restart of their own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults import flows, invariants, pg_cluster
from tests.faults import stack as stacks
from tests.faults import traffic as wire

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CLIENTS, PER_CLIENT = 2, 20


@pytest.fixture
def cluster() -> Iterator[pg_cluster.Cluster]:
    with pg_cluster.private_cluster() as started:
        yield started


def test_postgres_restart_mid_load_answers_503_then_loses_nothing(
    cluster: pg_cluster.Cluster, tmp_path: Path, receiver: wire.Receiver
) -> None:
    url = cluster.create_database("signoff")
    stack = stacks.Stack(url, tmp_path)
    try:
        stack.deploy.env.update(
            {"SIGNOFF_WORKER__RETRAIN": "false", "SIGNOFF_WORKER__BATCH_SIZE": "5"}
        )
        stack.prepare(flows.workflow(receiver.url))
        stack.serve(workers=True)
        stack.worker("worker")
        app, reviewer = stack.app(timeout=30), stack.reviewer()
        back = threading.Event()
        progress = threading.Semaphore(0)
        failures: list[BaseException] = []

        def client(c: int) -> None:
            try:
                for n in range(PER_CLIENT):
                    number = c * PER_CLIENT + n
                    body = {"content": flows.content(number), "external_id": f"doc-{number}"}
                    headers = {"Idempotency-Key": f"doc-{number}"}
                    while True:
                        try:
                            response = app.post(
                                "/api/v1/workflows/faults/items", json=body, headers=headers
                            )
                        except httpx.TransportError:
                            back.wait(120)
                            continue
                        if response.status_code == 503:
                            back.wait(float(response.headers["retry-after"]))
                            continue
                        assert response.status_code in (200, 201), response.text
                        progress.release()
                        break
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)

        threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for _ in range(8):
            assert progress.acquire(timeout=120), "no submission was acknowledged"

        cluster.stop("fast")
        # While it is down: 503 with Retry-After, on a write and on a read.
        down = app.post(
            "/api/v1/workflows/faults/items",
            json={"content": flows.content(999)},
            headers={"Idempotency-Key": "while-down"},
        )
        assert down.status_code == 503 and down.headers["retry-after"], down.text
        listed = app.get("/api/v1/items")
        assert listed.status_code == 503 and listed.headers["retry-after"], listed.text
        cluster.start()
        back.set()

        for thread in threads:
            thread.join(300)
            assert not thread.is_alive()
        assert not failures, failures
        flows.review_until_settled(stack, reviewer, CLIENTS * PER_CLIENT, alive=("serve", "worker"))
        invariants.assert_holds(url, stack.traffic, receiver, secret_key=stacks.SECRET_KEY)
        exchanges = stack.traffic.snapshot()
        assert any(x.status == 503 for x in exchanges)
        assert len(invariants.acknowledged_ids(exchanges)) == CLIENTS * PER_CLIENT
    finally:
        stack.close()
