"""Replay labelled examples through the real engine with a simulated reviewer.

Items arrive in file order, in batches; the AI step and routing run exactly as in
production; every item routed to a person is decided by a reviewer who answers
with the true label; the built-in model retrains as it would in production.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from signoff.domain import errors
from signoff.domain.states import Role
from signoff.domain.workflow import WorkflowSpec
from signoff.services import calibration, intake, processing, review, users
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.storage import items
from signoff.storage import users as user_queries

REVIEWER_EMAIL = "simulated-reviewer@signoff.local"


@dataclass
class EvalResult:
    items: int = 0
    auto: int = 0
    auto_errors: int = 0
    human_reviews: int = 0
    ai_errors: int = 0
    model_correct: int = 0
    model_predicted: int = 0
    learning_curve: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "automation_rate": self.auto / self.items if self.items else 0.0,
            "auto_decided": self.auto,
            "auto_errors": self.auto_errors,
            "auto_error_rate": self.auto_errors / self.auto if self.auto else 0.0,
            "human_reviews": self.human_reviews,
            "ai_errors": self.ai_errors,
            "model_accuracy": self.model_correct / self.model_predicted
            if self.model_predicted
            else None,
            "learning_curve": self.learning_curve,
        }


@dataclass
class _Window:
    start: int
    items: int = 0
    auto: int = 0
    auto_errors: int = 0
    human: int = 0
    predicted: int = 0
    correct: int = 0

    def row(self, threshold: float | None) -> dict[str, Any]:
        return {
            "items_from": self.start + 1,
            "items_to": self.start + self.items,
            "automation_rate": self.auto / self.items if self.items else 0.0,
            "auto_error_rate": self.auto_errors / self.auto if self.auto else 0.0,
            "human_reviews": self.human,
            "model_accuracy": self.correct / self.predicted if self.predicted else None,
            "threshold": threshold,
        }


def simulated_reviewer(ctx: Context) -> users.Principal:
    with ctx.sessions() as session:
        row = user_queries.read_user_by_email(session, REVIEWER_EMAIL)
    user_id = (
        row.id
        if row is not None
        else users.add_user(ctx, REVIEWER_EMAIL, Role.REVIEWER, actor="eval")
    )
    return users.Principal(user_id, REVIEWER_EMAIL, Role.REVIEWER)


def replay(
    ctx: Context,
    workflow: str,
    examples: Sequence[tuple[str, str]],
    *,
    batch_size: int = 100,
    window: int = 500,
    progress: Callable[[int], None] | None = None,
    metadata: Sequence[dict[str, Any]] | None = None,
    reviews_per_batch: int | None = None,
) -> EvalResult:
    """Run `(text, true_label)` examples (with `metadata`, one per example) through the engine.

    With `reviews_per_batch`, the reviewer decides at most that many tasks after each
    batch (in the queue's order) and the rest wait: the queue order then decides which
    items the model learns from. Returns the realised figures.
    """
    if metadata is not None and len(metadata) != len(examples):
        raise errors.ValidationFailed("metadata needs one mapping per example")
    view = workflow_service.get_workflow(ctx, workflow)
    unknown = {label for _, label in examples} - set(view.spec.labels)
    if unknown:
        raise errors.ValidationFailed(f"labels {sorted(unknown)} are not in the workflow's labels")
    reviewer = simulated_reviewer(ctx)
    providers = processing.ProviderCache(ctx)
    result = EvalResult()
    current = _Window(0)
    # Every true label so far: with limited capacity, tasks wait across batches.
    truths: dict[int, str] = {}
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        extra = metadata[start : start + batch_size] if metadata else [{}] * len(chunk)
        new = [
            intake.NewItem(content={"text": text}, metadata=meta or None)
            for (text, _), meta in zip(chunk, extra, strict=True)
        ]
        submitted = intake.submit_items(ctx, workflow, new, "eval")
        truth = {s.item_id: label for s, (_, label) in zip(submitted, chunk, strict=True)}
        truths.update(truth)
        while processing.process_batch(ctx, "eval", providers, batch_size):
            pass
        _decide_all(ctx, reviewer, workflow, truths, view.spec, reviews_per_batch)
        for row in _read(ctx, list(truth)):
            label = truth[row.id]
            if current.items == window:
                result.learning_curve.append(current.row(_threshold(ctx, view)))
                current = _Window(result.items)
            result.items += 1
            current.items += 1
            if row.ai_label is not None and row.confidence is not None:
                result.model_predicted += 1
                current.predicted += 1
                hit = row.ai_label == label
                result.model_correct += hit
                current.correct += hit
            if row.route == "auto":
                result.auto += 1
                current.auto += 1
                if row.final_label != label:
                    result.auto_errors += 1
                    current.auto_errors += 1
            else:
                result.human_reviews += 1
                current.human += 1
                if row.prediction and row.prediction.get("error"):
                    result.ai_errors += 1
        if progress:
            progress(len(chunk))
    if current.items:
        result.learning_curve.append(current.row(_threshold(ctx, view)))
    return result


def _decide_all(
    ctx: Context,
    reviewer: users.Principal,
    workflow: str,
    truth: dict[int, str],
    spec: WorkflowSpec,
    capacity: int | None = None,
) -> None:
    """Answer open tasks (all, or `capacity` of them) as a reviewer who knows the true label."""
    decided = 0
    while capacity is None or decided < capacity:
        decided += 1
        task = review.claim_next_task(ctx, reviewer, workflow)
        if task is None:
            return
        label = truth.get(task.item_id)
        if label is None:  # a task from before this replay: answer with the AI's label
            row = _read(ctx, [task.item_id])[0]
            label = row.ai_label
        decision = review.DecisionInput(
            outcome=spec.review.outcome_for(label),
            label=label,
            comment=f"simulated reviewer: the true label is {label}",
        )
        review.decide(ctx, reviewer, task.id, decision)


def _read(ctx: Context, ids: list[int]) -> list[Any]:
    with ctx.sessions() as session:
        return items.list_outcomes(session, ids)


def _threshold(ctx: Context, view: workflow_service.WorkflowView) -> float | None:
    return calibration.threshold_in_force(ctx, view.id, view.spec)
