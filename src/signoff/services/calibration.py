"""The threshold in force for each workflow, learned from reviewers for error budgets."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from signoff.domain import error_budget
from signoff.domain.workflow import WorkflowSpec
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.storage import items

#: Recompute a budget threshold at most this often, unless many decisions arrived.
RECOMPUTE_SECONDS = 1.0
RECOMPUTE_DECISIONS = 20


@dataclass
class _Entry:
    choice: error_budget.ThresholdChoice
    computed_at: float
    dirty: int = 0


_cache: dict[tuple[int, int], _Entry] = {}
_lock = threading.Lock()


def _key(ctx: Context, workflow_id: int) -> tuple[int, int]:
    return (id(ctx), workflow_id)


def threshold_in_force(ctx: Context, workflow_id: int, spec: WorkflowSpec) -> float | None:
    """The confidence an item needs to be decided automatically (None: nothing is)."""
    mode = spec.routing.mode
    if mode == "fixed":
        return spec.routing.threshold
    if mode == "always_human":
        return None
    key = _key(ctx, workflow_id)
    with _lock:
        entry = _cache.get(key)
        fresh = entry is not None and (
            entry.dirty == 0
            or (
                entry.dirty < RECOMPUTE_DECISIONS
                and time.monotonic() - entry.computed_at < RECOMPUTE_SECONDS
            )
        )
    if entry is not None and fresh:
        return entry.choice.threshold
    choice = compute_choice(ctx, workflow_id, spec)
    with _lock:
        _cache[key] = _Entry(choice, time.monotonic())
    return choice.threshold


def note_decision(ctx: Context, workflow_id: int) -> None:
    """A reviewer decided an item of this workflow: the evidence changed."""
    with _lock:
        entry = _cache.get(_key(ctx, workflow_id))
        if entry is not None:
            entry.dirty += 1


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
    if spec.routing.mode != "error_budget":
        report["threshold"] = spec.routing.threshold
        return report
    choice = compute_choice(ctx, view.id, spec)
    with _lock:
        _cache[_key(ctx, view.id)] = _Entry(choice, time.monotonic())
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
