"""Races through the public API of a live `signoff serve`: duplicate submissions, reviewers."""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.faults import flows, invariants
from tests.faults import stack as stacks
from tests.faults import traffic as wire

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _together(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run the calls in threads released at the same moment; their responses in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(isinstance(r, httpx.Response) for r in results), results
    return results


def test_ten_concurrent_submissions_with_one_idempotency_key_make_one_item(
    stack: stacks.Stack, receiver: wire.Receiver
) -> None:
    stack.prepare(flows.workflow(receiver.url))
    stack.serve(workers=True)
    app, reviewer = stack.app(), stack.reviewer()
    ids: set[int] = set()
    for round_ in range(3):
        body = {"content": flows.content(round_ * 2), "external_id": f"dup-{round_}"}
        headers = {"Idempotency-Key": f"dup-{round_}"}
        submit = functools.partial(
            app.post, "/api/v1/workflows/faults/items", json=body, headers=headers
        )
        responses = _together([submit] * 10)
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {201: 1, 200: 9}, [r.text for r in responses]
        round_ids = {r.json()["id"] for r in responses}
        assert len(round_ids) == 1
        ids |= round_ids
    # Retries after a timeout: the first attempt gives up before the answer (1 ms is
    # less than any intake takes: key check, insert, commit); the retry under the same
    # key must get the one item the first attempt made or makes.
    impatient = stack.app(timeout=httpx.Timeout(60, read=0.001))
    timed_out = 0
    for n in range(5):
        body = {"content": flows.content(10 + 2 * n), "external_id": f"retry-{n}"}
        headers = {"Idempotency-Key": f"retry-{n}"}
        try:
            impatient.post("/api/v1/workflows/faults/items", json=body, headers=headers)
        except httpx.TimeoutException:
            timed_out += 1
        retried = app.post("/api/v1/workflows/faults/items", json=body, headers=headers)
        assert retried.status_code in (200, 201), retried.text
        ids.add(retried.json()["id"])
    assert len(ids) == 8 and len(flows.states(stack.url)) == 8
    flows.review_until_settled(stack, reviewer, len(ids), alive=("serve",))
    invariants.assert_holds(stack.url, stack.traffic, receiver, secret_key=stacks.SECRET_KEY)
    assert timed_out >= 1, "no first attempt timed out; the retries proved nothing"


def test_two_reviewers_racing_for_one_task_get_it_once_and_decide_it_once(
    stack: stacks.Stack, receiver: wire.Receiver
) -> None:
    stack.prepare(flows.workflow(receiver.url))
    stack.serve(workers=True)
    app = stack.app()
    first, second = stack.reviewer(1), stack.reviewer(2)
    rounds = 4
    for n in range(rounds):
        flows.submit(app, 1, start=2 * n + 1)  # odd: a person reviews it
        stack.wait(
            lambda: "in_review" in flows.states(stack.url).values(), "a task", alive=("serve",)
        )
        claims = _together(
            [
                lambda: first.post("/api/v1/reviews/claim"),
                lambda: second.post("/api/v1/reviews/claim"),
            ]
        )
        assert sorted(r.status_code for r in claims) == [200, 204], [r.text for r in claims]
        winner, loser = (first, second) if claims[0].status_code == 200 else (second, first)
        task_id = next(r for r in claims if r.status_code == 200).json()["id"]
        # The loser tries to take that very task, then both decide it at once.
        taken = loser.post(f"/api/v1/tasks/{task_id}/claim")
        assert taken.status_code == 409, taken.text
        path = f"/api/v1/tasks/{task_id}/decision"
        decisions = _together(
            [functools.partial(c.post, path, json={"outcome": "approved"}) for c in (winner, loser)]
        )
        assert [r.status_code for r in decisions] == [200, 409], [r.text for r in decisions]
    flows.review_until_settled(stack, first, rounds, alive=("serve",))
    invariants.assert_holds(stack.url, stack.traffic, receiver, secret_key=stacks.SECRET_KEY)
