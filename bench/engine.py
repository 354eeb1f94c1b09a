"""Engine throughput: the auto path (submit → AI → route → decision + audit + outbox)
and the human path (claim → decide), on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

from signoff.domain.states import Role
from signoff.services import intake, processing, review, users
from signoff.services import workflows as workflow_service
from signoff.services.context import Context

WORKFLOW = """
name: bench
labels: [invoice, other]
ai: {provider: python, options: {function: "bench.trivial:classify"}}
routing: {threshold: 0.5}
delivery: {webhook_url: "http://127.0.0.1:9/hook"}
"""

HUMAN_WORKFLOW = """
name: bench-human
labels: [invoice, other]
ai: {provider: python, options: {function: "bench.trivial:classify"}}
routing: {threshold: 1.0}
"""


def auto_path(ctx: Context, n: int, batch: int = 1000) -> dict[str, Any]:
    """Submit `n` items in batches and run them through the AI step to an auto decision."""
    workflow_service.apply_workflow(ctx, WORKFLOW, "bench")
    providers = processing.ProviderCache(ctx)
    timings = {"submit": 0.0, "process": 0.0}
    started = time.perf_counter()
    for start in range(0, n, batch):
        t0 = time.perf_counter()
        intake.submit_items(
            ctx,
            "bench",
            [
                intake.NewItem(content={"text": f"document {i}"})
                for i in range(start, min(n, start + batch))
            ],
            "bench",
        )
        t1 = time.perf_counter()
        while processing.process_batch(ctx, "bench-worker", providers, 500):
            pass
        timings["process"] += time.perf_counter() - t1
        timings["submit"] += t1 - t0
    elapsed = time.perf_counter() - started
    return {
        "items": n,
        "seconds": elapsed,
        "items_per_second": n / elapsed,
        "submit_seconds": timings["submit"],
        "process_seconds": timings["process"],
    }


def human_path(ctx: Context, n: int) -> dict[str, Any]:
    """Decisions per second by one reviewer claiming and deciding `n` tasks."""
    workflow_service.apply_workflow(ctx, HUMAN_WORKFLOW, "bench")
    user_id = users.add_user(ctx, "bench-reviewer@example.com", Role.REVIEWER)
    principal = users.Principal(user_id, "bench-reviewer@example.com", Role.REVIEWER)
    providers = processing.ProviderCache(ctx)
    intake.submit_items(
        ctx,
        "bench-human",
        [intake.NewItem(content={"text": f"doc {i}"}) for i in range(n)],
        "bench",
    )
    while processing.process_batch(ctx, "bench-worker", providers, 500):
        pass
    started = time.perf_counter()
    decided = 0
    while True:
        task = review.claim_next_task(ctx, principal, "bench-human")
        if task is None:
            break
        review.decide(
            ctx, principal, task.id, review.DecisionInput(outcome="approved", label="other")
        )
        decided += 1
    elapsed = time.perf_counter() - started
    return {"decisions": decided, "seconds": elapsed, "decisions_per_second": decided / elapsed}
