"""Two contexts on one database stand for two processes: what one learns, the other sees."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from signoff.domain.states import Role
from signoff.services import calibration, intake, processing, review, users
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.services.users import Principal

BUDGET = {
    "name": "budget",
    "labels": ["ok", "bad"],
    "ai": {"provider": "fake"},
    "routing": {"error_budget": 0.1, "confidence_level": 0.9, "min_reviewed": 30},
}


@pytest.fixture
def worker_ctx(ctx: Context) -> Iterator[Context]:
    """A second process's context: its own engine and caches, the same database."""
    other = create_context(ctx.settings)
    yield other
    other.close()


def _review_all(ctx: Context, reviewer: Principal) -> int:
    decided = 0
    while (task := review.claim_next_task(ctx, reviewer, "budget")) is not None:
        review.decide(ctx, reviewer, task.id, review.DecisionInput("approved", label="ok"))
        decided += 1
    return decided


def test_a_threshold_cached_by_one_process_follows_decisions_made_in_another(
    ctx: Context, worker_ctx: Context
) -> None:
    view, _ = workflow_service.apply_workflow(ctx, BUDGET, "test")
    reviewer = Principal(users.add_user(ctx, "r@example.com", Role.REVIEWER), "r", Role.REVIEWER)
    contents = [{"text": f"d{n}", "label": "ok", "confidence": 0.95} for n in range(40)]
    intake.submit_items(ctx, "budget", [intake.NewItem(content=c) for c in contents], "t")
    # The worker routes everything to people and caches "no threshold yet".
    processing.process_batch(worker_ctx, "w", processing.ProviderCache(worker_ctx), 100)
    assert calibration.threshold_in_force(worker_ctx, view.id, view.spec) is None

    assert _review_all(ctx, reviewer) == 40  # in the API process
    learned = calibration.calibration_report(ctx, "budget")["threshold"]
    assert learned == 0.95
    # 40 new decisions (>= RECOMPUTE_DECISIONS): the worker recomputes at once.
    assert calibration.threshold_in_force(worker_ctx, view.id, view.spec) == learned


def test_a_single_decision_elsewhere_reaches_the_cached_threshold_within_the_bound(
    ctx: Context, worker_ctx: Context
) -> None:
    view, _ = workflow_service.apply_workflow(ctx, BUDGET, "test")
    reviewer = Principal(users.add_user(ctx, "r@example.com", Role.REVIEWER), "r", Role.REVIEWER)
    contents = [{"text": f"d{n}", "label": "ok", "confidence": 0.95} for n in range(31)]
    intake.submit_items(ctx, "budget", [intake.NewItem(content=c) for c in contents], "t")
    processing.process_batch(worker_ctx, "w", processing.ProviderCache(worker_ctx), 100)
    # 29 reviewed: one short of min_reviewed, so no threshold yet, cached by the worker.
    for _ in range(29):
        task = review.claim_next_task(ctx, reviewer, "budget")
        assert task is not None
        review.decide(ctx, reviewer, task.id, review.DecisionInput("approved", label="ok"))
    assert calibration.threshold_in_force(worker_ctx, view.id, view.spec) is None
    task = review.claim_next_task(ctx, reviewer, "budget")
    assert task is not None
    review.decide(ctx, reviewer, task.id, review.DecisionInput("approved", label="ok"))
    # One decision: the worker may keep its answer for up to RECOMPUTE_SECONDS, no longer.
    deadline = time.monotonic() + calibration.RECOMPUTE_SECONDS + 30
    seen = calibration.threshold_in_force(worker_ctx, view.id, view.spec)
    while seen is None and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = calibration.threshold_in_force(worker_ctx, view.id, view.spec)
    assert seen == calibration.calibration_report(ctx, "budget")["threshold"]
    assert seen is not None


def test_spec_caches_belong_to_their_context(ctx: Context, worker_ctx: Context) -> None:
    view, _ = workflow_service.apply_workflow(ctx, BUDGET, "test")
    workflow_service.get_spec(ctx, view.id, view.version)
    assert (view.id, view.version) in ctx.caches.specs
    assert worker_ctx.caches.specs == {}
