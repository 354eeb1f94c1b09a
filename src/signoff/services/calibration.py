"""The threshold in force for each workflow, learned from reviewers for error budgets."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session

from signoff.domain import error_budget
from signoff.domain.workflow import RoutingMode, WorkflowSpec
from signoff.services import workflows as workflow_service
from signoff.services.context import CachedThreshold, Context
from signoff.storage import items, learning

#: A threshold is recomputed when the workflow's decision counter moved, at most this
#: often unless RECOMPUTE_DECISIONS decisions arrived: so every process routes with a
#: threshold that includes every decision committed more than this long ago.
RECOMPUTE_SECONDS = 1.0
RECOMPUTE_DECISIONS = 20


def threshold_in_force(ctx: Context, workflow_id: int, spec: WorkflowSpec) -> float | None:
    """The confidence an item needs to be decided automatically (None: nothing is).

    Error budgets: the cached threshold is revalidated against the workflow's decision
    counter in the database (one primary-key read), so a decision made in any process
    reaches this one within RECOMPUTE_SECONDS.
    """
    mode = spec.routing.mode
    if mode is RoutingMode.FIXED:
        return spec.routing.threshold
    if mode is RoutingMode.ALWAYS_HUMAN:
        return None
    started = time.monotonic()
    with ctx.sessions() as session:
        decisions = learning.read_decisions(session, workflow_id)
    with ctx.caches.lock:
        entry = ctx.caches.thresholds.get(workflow_id)
    if entry is not None and _still_good(entry, decisions, started):
        return entry.choice.threshold
    return _recompute(ctx, workflow_id, spec, started).choice.threshold


def _still_good(entry: CachedThreshold, decisions: int, now: float) -> bool:
    arrived = decisions - entry.decisions
    if arrived == 0:
        return True
    return 0 < arrived < RECOMPUTE_DECISIONS and now - entry.computed_at < RECOMPUTE_SECONDS


def _recompute(
    ctx: Context, workflow_id: int, spec: WorkflowSpec, started: float
) -> CachedThreshold:
    # The counter is read before the evidence: a decision landing in between makes
    # the entry look older than it is (one extra recompute), never newer.
    with ctx.sessions() as session:
        decisions = learning.read_decisions(session, workflow_id)
    entry = CachedThreshold(compute_choice(ctx, workflow_id, spec), decisions, started)
    with ctx.caches.lock:
        ctx.caches.thresholds[workflow_id] = entry
    return entry


def count_decision(session: Session, workflow_id: int, item_id: int = 0) -> None:
    """A person decided an item of this workflow: the evidence changed (in its transaction).

    The item picks the counter's shard, so decisions on different items do not queue.
    """
    learning.count_decision(session, workflow_id, item_id)


def observations(
    ctx: Context, workflow_id: int, spec: WorkflowSpec
) -> list[error_budget.ReviewedObservation]:
    """Every item a person decided after the AI answered with a confidence.

    Each counts once. Inverse-probability weights (a QA sample standing for
    1 / qa_sample_rate auto items) would be unbiased but, mixed with the many
    items reviewed below the threshold, they shrink Kish's effective sample size
    so much that the bound collapses and the threshold swings on and off. Unweighted,
    what people reviewed below the threshold in force is over-represented; those
    items are less confident and err more, so for a model whose error falls with
    confidence the estimate errs on the safe side — and above the threshold in
    force the reviewed items are exactly the random QA sample, unbiased.
    """
    with ctx.sessions() as session:
        rows = items.list_reviewed_confidences(session, workflow_id)
    return [
        error_budget.ReviewedObservation(confidence=float(r.confidence), correct=not r.override)
        for r in rows
    ]


def compute_choice(
    ctx: Context, workflow_id: int, spec: WorkflowSpec
) -> error_budget.ThresholdChoice:
    budget = spec.routing.error_budget
    assert budget is not None
    return error_budget.choose_threshold(
        observations(ctx, workflow_id, spec),
        error_budget=budget,
        confidence_level=spec.routing.confidence_level,
        min_reviewed=spec.routing.min_reviewed,
    )


def calibration_report(ctx: Context, name: str) -> dict[str, Any]:
    """What GET /workflows/{name}/calibration shows: the threshold and its evidence."""
    view = workflow_service.get_workflow(ctx, name)
    spec = view.spec
    auto = _auto_summary(ctx, view.id)
    report: dict[str, Any] = {
        "workflow": name,
        "version": view.version,
        "mode": spec.routing.mode,
        "qa_sample_rate": spec.routing.qa_sample_rate,
        "auto_decided": auto["auto"],
        "human_decided": auto["human"],
    }
    if spec.routing.mode is not RoutingMode.ERROR_BUDGET:
        report["threshold"] = spec.routing.threshold
        return report
    choice = _recompute(ctx, view.id, spec, time.monotonic()).choice
    report.update(
        {
            "threshold": choice.threshold,
            "error_budget": spec.routing.error_budget,
            "confidence_level": spec.routing.confidence_level,
            "min_reviewed": spec.routing.min_reviewed,
            "reviewed": choice.n_reviewed,
            "reviewed_above_threshold": choice.n_above,
            "errors_above_threshold": choice.errors_above,
            "estimated_auto_error": choice.estimated_error,
            "auto_error_upper_bound": choice.upper_bound,
            "reason": choice.reason,
            "table": [row_to_dict(r) for r in choice.table],
        }
    )
    return report


def row_to_dict(row: Any) -> dict[str, Any]:
    if isinstance(row, dict):
        return row
    return {k: getattr(row, k) for k in row.__dataclass_fields__}


def _auto_summary(ctx: Context, workflow_id: int) -> dict[str, int]:
    with ctx.sessions() as session:
        counts = items.count_decided_by_route(session, workflow_id)
    return {"auto": counts.get("auto", 0), "human": counts.get("human", 0)}
