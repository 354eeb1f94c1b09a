"""`kill -9` of a worker at four points of its work, and of `serve` mid-request.

Real processes: `signoff serve --no-workers`, a victim `signoff worker` that a gate
(tests.faults.gated, or a webhook receiver that never answers) stops at the point
under test, then a replacement worker. Every scenario ends with the invariant checker.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from tests.faults import flows, invariants
from tests.faults import stack as stacks
from tests.faults import traffic as wire

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

BATCH = 5
FAST = {
    "SIGNOFF_WORKER__LEASE_SECONDS": "3",
    "SIGNOFF_WORKER__BATCH_SIZE": str(BATCH),
    "SIGNOFF_WORKER__CONCURRENCY": "1",
    "SIGNOFF_WORKER__RETRAIN": "false",
    "SIGNOFF_DELIVERY__TIMEOUT_SECONDS": "5",
    "SIGNOFF_DELIVERY__BASE_BACKOFF_SECONDS": "0.2",
}


PG = pytest.param("postgres", marks=pytest.mark.postgres)
BOTH = ["sqlite", PG]


# Every point on SQLite; PostgreSQL (whose claims differ: SKIP LOCKED) where a point's
# outcome depends on the claim query: answers held but unrecorded, a message in flight.
@pytest.mark.parametrize(
    ("fault_db_url", "point"),
    [
        ("sqlite", "after_claim"),
        ("sqlite", "during_ai"),
        ("sqlite", "after_answer"),
        pytest.param("postgres", "after_answer", marks=pytest.mark.postgres),
    ],
    indirect=["fault_db_url"],
)
def test_worker_killed_in_its_ai_step_loses_no_item_and_decides_none_twice(
    stack: stacks.Stack, receiver: wire.Receiver, tmp_path: Path, point: str
) -> None:
    stack.deploy.env.update(FAST)
    stack.prepare(flows.workflow(receiver.url))
    stack.serve()
    app, reviewer = stack.app(), stack.reviewer()
    ids = flows.submit(app, BATCH)
    gate = tmp_path / "gate"
    gate.mkdir()
    stack.worker("victim", FAULTS_GATE_DIR=str(gate), FAULTS_GATE=point)
    reached = gate / "reached"
    stack.wait(reached.exists, f"the victim at {point}", alive=("victim", "serve"))

    # The victim holds the whole batch; what it did so far is exactly the point's.
    held = flows.leases(stack.url)
    prefix = stack.pid_prefix("victim")
    assert sorted(held) == ids and all(o.startswith(prefix) for o in held.values()), held
    answered = gate / "answered"
    answered_ids = [int(x) for x in answered.read_text().split()] if answered.exists() else []
    expected_answered = {"after_claim": [], "during_ai": [], "after_answer": ids[:-1]}[point]
    assert answered_ids == expected_answered, (point, answered_ids)

    stack.kill("victim")
    stack.worker("replacement")
    flows.review_until_settled(stack, reviewer, BATCH, alive=("replacement", "serve"))

    invariants.assert_holds(stack.url, stack.traffic, receiver, secret_key=stacks.SECRET_KEY)
    assert flows.event_types(stack.url).count("lease_recovered") == BATCH


@pytest.mark.parametrize("fault_db_url", BOTH, indirect=True)
def test_worker_killed_while_sending_a_webhook_has_it_sent_again_under_the_same_id(
    stack: stacks.Stack, receiver: wire.Receiver
) -> None:
    stack.deploy.env.update(FAST)
    stack.prepare(flows.workflow(receiver.url))
    stack.serve()
    app, reviewer = stack.app(), stack.reviewer()
    receiver.hang_next(1)
    flows.submit(app, BATCH)
    stack.worker("victim")
    stack.wait(receiver.arrived, "a webhook in flight", alive=("victim", "serve"))
    stack.kill("victim")
    receiver.release()
    stack.worker("replacement")
    # The message's lease (at least 30 s) must lapse before another sender retries it.
    flows.review_until_settled(stack, reviewer, BATCH, alive=("replacement", "serve"))

    invariants.assert_holds(stack.url, stack.traffic, receiver, secret_key=stacks.SECRET_KEY)
    hung = next(d for d in receiver.snapshot() if d.status is None)
    again = [d for d in receiver.snapshot() if d.webhook_id == hung.webhook_id]
    assert [d.status for d in again] == [None, 200], again


@pytest.mark.parametrize("fault_db_url", BOTH, indirect=True)
def test_serve_killed_mid_request_acknowledges_nothing_it_loses(
    stack: stacks.Stack, receiver: wire.Receiver
) -> None:
    """Four clients submit while `serve` is SIGKILLed; they retry with their keys after."""
    stack.deploy.env.update(FAST)
    stack.prepare(flows.workflow(receiver.url))
    port = stack.serve(workers=True)
    app, reviewer = stack.app(timeout=30), stack.reviewer()
    clients, per_client = 4, 15
    unanswered: list[tuple[int, int]] = []
    acknowledged = threading.Semaphore(0)
    lock = threading.Lock()
    restarted = threading.Event()

    def client(c: int) -> None:
        for n in range(per_client):
            number = c * per_client + n
            body = {"content": flows.content(number), "external_id": f"doc-{number}"}
            headers = {"Idempotency-Key": f"doc-{number}"}
            while True:
                try:
                    response = app.post(
                        "/api/v1/workflows/faults/items", json=body, headers=headers
                    )
                except httpx.TransportError:
                    with lock:
                        unanswered.append((c, number))
                    restarted.wait(120)
                    continue  # the same key again, as a client retrying after a failure would
                if response.status_code == 503:
                    restarted.wait(120)
                    continue
                assert response.status_code in (200, 201), response.text
                acknowledged.release()
                break

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for _ in range(10):
        assert acknowledged.acquire(timeout=120), "no submission was acknowledged"
    stack.kill("serve")
    stack.serve("serve-2", workers=True, port=port)
    restarted.set()
    for thread in threads:
        thread.join(300)
        assert not thread.is_alive()
    assert unanswered, "no request was in flight when serve was killed"

    flows.review_until_settled(stack, reviewer, clients * per_client, alive=("serve-2",))
    invariants.assert_holds(stack.url, stack.traffic, receiver, secret_key=stacks.SECRET_KEY)
    assert len(invariants.acknowledged_ids(stack.traffic.snapshot())) == clients * per_client
