"""Scale-out on one PostgreSQL: two `signoff serve` and two `signoff worker` processes.

Real processes share only the database. Intake and reviews go through both API
processes; both workers route items and sweep the same SLA timers. No work is done
twice (one decision per task and per item, no task held by two reviewers, each timer
fired once), a long-poll on one API process sees a decision made through the other,
and the run ends with the invariant checker.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.acceptance import test_crash_recovery as processes
from tests.faults import flows, invariants
from tests.faults import stack as stacks
from tests.faults import traffic as wire

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PG = pytest.param("postgres", marks=pytest.mark.postgres)
ITEMS = 40  # even numbers are auto-decided, odd ones go to a person (flows.content)
REVIEWED = 10  # human tasks decided by reviewers; the other ten time out
TIMERS = ("reminded", "escalated", "timed_out")
ENV = {
    "SIGNOFF_WORKER__LEASE_SECONDS": "5",
    "SIGNOFF_WORKER__BATCH_SIZE": "5",
    "SIGNOFF_WORKER__CONCURRENCY": "1",
    "SIGNOFF_WORKER__RETRAIN": "false",
    "SIGNOFF_DELIVERY__BASE_BACKOFF_SECONDS": "0.2",
    # Small, frequent sweeps, so both workers hold parts of the same due set.
    "SIGNOFF_TIMERS__INTERVAL_SECONDS": "0.1",
    "SIGNOFF_TIMERS__BATCH_SIZE": "3",
}
SLA = (
    "  sla: {remind_after: 1h, escalate_after: 8h, escalate_to: leads,\n"
    "        on_timeout: {after: 24h, outcome: rejected, comment: no decision in 24 h}}\n"
)


def _workflow(webhook_url: str) -> str:
    text = flows.workflow(webhook_url)
    review = "review: {outcomes: [approved, rejected]}\n"
    assert review in text
    return text.replace(review, "review:\n  outcomes: [approved, rejected]\n" + SLA)


def _rows(url: str, query: str) -> list[Any]:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(query))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _submit(apps: list[httpx.Client], numbers: range) -> None:
    """Submit items `numbers` (flows.content), each through the next client in turn."""
    for n in numbers:
        response = apps[n % len(apps)].post(
            "/api/v1/workflows/faults/items",
            json={"content": flows.content(n), "external_id": f"doc-{n}"},
            headers={"Idempotency-Key": f"doc-{n}"},
        )
        assert response.status_code == 201, response.text


def _settled(stack: stacks.Stack) -> bool:
    """Every item decided and every webhook delivered."""
    final = [s for s in flows.states(stack.url).values() if s in flows.FINAL]
    return len(final) == ITEMS and flows.pending_webhooks(stack.url) == 0


def _fired_in_log(stack: stacks.Stack, name: str) -> Counter[str]:
    """Timers a worker process says it fired, summed over its log."""
    counted: Counter[str] = Counter()
    for line in stack.deploy.logs[name].read_text().splitlines():
        if "action=timers_fired" in line:
            for word in line.split():
                key, _, value = word.partition("=")
                if key in TIMERS:
                    counted[key] += int(value)
    return counted


def _review(reviewer: httpx.Client, count: int, decided: list[tuple[int, int]]) -> None:
    """Claim and decide `count` tasks through one API process."""
    for _ in range(count):
        claim = reviewer.post("/api/v1/reviews/claim")
        assert claim.status_code == 200, claim.text
        task = claim.json()
        answer = reviewer.post(f"/api/v1/tasks/{task['id']}/decision", json={"outcome": "approved"})
        assert answer.status_code == 200, answer.text
        decided.append((int(task["id"]), int(task["item_id"])))


@pytest.mark.parametrize("fault_db_url", [PG], indirect=True)
def test_two_serve_and_two_worker_processes_do_no_work_twice_and_fire_each_timer_once(
    stack: stacks.Stack, receiver: wire.Receiver
) -> None:
    stack.deploy.env.update(ENV)
    stack.prepare(_workflow(receiver.url))
    stack.serve("serve-a")
    app_a, reviewer_a = stack.app(timeout=60), stack.reviewer(1)
    stack.serve("serve-b")
    app_b, reviewer_b = stack.app(timeout=60), stack.reviewer(2)
    assert app_a.base_url != app_b.base_url
    stack.worker("worker-1")
    stack.worker("worker-2")
    everyone = ("serve-a", "serve-b", "worker-1", "worker-2")

    _submit([app_a, app_b], range(ITEMS))  # alternately through each API process
    human = ITEMS // 2
    tasks = "SELECT count(*) FROM review_tasks"
    stack.wait(lambda: _rows(stack.url, tasks)[0][0] == human, "every human task", alive=everyone)

    # Live across processes: a long-poll on serve-b answers a decision made on serve-a.
    claim = reviewer_a.post("/api/v1/reviews/claim")
    assert claim.status_code == 200, claim.text
    first = claim.json()
    waited: list[httpx.Response] = []
    waiter = threading.Thread(
        target=lambda: waited.append(app_b.get(f"/api/v1/items/{first['item_id']}/wait?timeout=50"))
    )
    waiter.start()
    answer = reviewer_a.post(f"/api/v1/tasks/{first['id']}/decision", json={"outcome": "approved"})
    assert answer.status_code == 200, answer.text
    decided_at = time.monotonic()
    waiter.join(60)
    assert waited and waited[0].status_code == 200, waited
    assert waited[0].json()["state"] == "approved" and waited[0].json()["timed_out"] is False
    assert time.monotonic() - decided_at < 10  # well before the 50 s long-poll timeout

    # Two reviewers on two API processes take the next tasks at once.
    decided: list[tuple[int, int]] = [(int(first["id"]), int(first["item_id"]))]
    per_reviewer = (REVIEWED - 1) // 2
    threads = [
        threading.Thread(target=_review, args=(r, n, decided))
        for r, n in ((reviewer_a, per_reviewer), (reviewer_b, REVIEWED - 1 - per_reviewer))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(decided) == REVIEWED
    assert len({task for task, _ in decided}) == REVIEWED  # no task handed out twice

    # A day and a half later for the rest: every timer falls due at once for both sweeps.
    _rows(
        stack.url,
        "UPDATE review_tasks SET created_at = created_at - interval '36 hours' "
        "WHERE status IN ('open', 'assigned')",
    )

    stack.wait(lambda: _settled(stack), "every item decided and delivered", alive=everyone)

    fired = Counter(
        (int(r.item_id), str(r.type))
        for r in _rows(
            stack.url,
            "SELECT item_id, type FROM audit_events WHERE type IN "
            "('reminded', 'escalated', 'timed_out', 'decided', 'auto_decided') "
            "AND item_id IS NOT NULL",
        )
    )
    reviewed = {item for _, item in decided}
    timed_out = {item for (item, kind) in fired if kind == "timed_out"}
    assert len(timed_out) == human - REVIEWED and not timed_out & reviewed
    for item in timed_out:
        assert [fired[(item, kind)] for kind in TIMERS] == [1, 1, 1], item
    for item in reviewed:
        assert [fired[(item, kind)] for kind in TIMERS] == [0, 0, 0], item
    decisions = Counter(
        item
        for (item, kind), n in fired.items()
        if kind in ("decided", "auto_decided")
        for _ in range(n)
    )
    assert len(decisions) == ITEMS and set(decisions.values()) == {1}
    outcomes = dict(_rows(stack.url, "SELECT id, outcome FROM items"))
    assert {outcomes[i] for i in timed_out} == {"rejected"}
    # One decision webhook per item, whichever process decided it (delivery: invariants).
    hooks = _rows(stack.url, "SELECT item_id, count(*) FROM outbox GROUP BY item_id")
    assert len(hooks) == ITEMS and {int(n) for _, n in hooks} == {1}
    # Both workers' own accounts add up to each timer once (`action=timers_fired` lines).
    counted = {name: _fired_in_log(stack, name) for name in ("worker-1", "worker-2")}
    total = sum(counted.values(), Counter())
    assert total == Counter(dict.fromkeys(TIMERS, human - REVIEWED)), counted
    invariants.assert_holds(stack.url, stack.traffic, receiver, secret_key=stacks.SECRET_KEY)


def _serving(stack: stacks.Stack, count: int) -> list[int] | None:
    """Pids of `serve --processes` processes that said they started, in order, once
    `count` have; None before."""
    pids = [
        int(line.split("pid=")[1].split()[0])
        for line in stack.deploy.logs["serve"].read_text(errors="replace").splitlines()
        if "action=serve_process_started" in line
    ]
    return pids if len(pids) == count else None


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("fault_db_url", [PG], indirect=True)
def test_serve_processes_share_one_port_and_a_killed_one_is_replaced(
    stack: stacks.Stack, receiver: wire.Receiver
) -> None:
    stack.deploy.env.update(ENV)
    stack.prepare(flows.workflow(receiver.url))
    port = processes._free_port()
    stack.deploy.start("serve", "serve", "--port", str(port), "--processes", "2")
    stack.base = f"http://127.0.0.1:{port}"
    stack.wait(stack.ready, "a ready serve", alive=("serve",))
    first = stack.wait(lambda: _serving(stack, 2), "2 processes")
    assert len(set(first)) == 2 and stack.deploy.processes["serve"].pid not in first
    log = stack.deploy.logs["serve"].read_text(errors="replace")
    assert all(f"-{pid}-" in log for pid in first)  # each process runs its own workers

    half = ITEMS // 2
    _submit([stack.app() for _ in range(4)], range(half))  # four connections to one port

    # One process dies hard; the others keep serving and a new one takes its place.
    os.kill(first[0], signal.SIGKILL)
    replaced = stack.wait(lambda: _serving(stack, 3), "a replacement process", alive=("serve",))
    assert replaced[2] not in first
    stack.wait(stack.ready, "serve ready again", alive=("serve",))
    # New connections: the old ones may have gone with the killed process.
    _submit([stack.app() for _ in range(4)], range(half, ITEMS))
    reviewer = stack.reviewer(1)
    tasks = "SELECT count(*) FROM review_tasks"
    stack.wait(lambda: _rows(stack.url, tasks)[0][0] == ITEMS // 2, "every human task")
    decided: list[tuple[int, int]] = []
    _review(reviewer, ITEMS // 2, decided)
    assert len({task for task, _ in decided}) == ITEMS // 2

    stack.wait(lambda: _settled(stack), "every item decided and delivered", alive=("serve",))
    invariants.assert_holds(stack.url, stack.traffic, receiver, secret_key=stacks.SECRET_KEY)

    # Stopping the command stops every process it started.
    supervisor = stack.deploy.processes["serve"]
    supervisor.terminate()
    assert supervisor.wait(timeout=60) == 0
    stack.wait(lambda: all(_gone(pid) for pid in replaced), "every serve process stopped")
