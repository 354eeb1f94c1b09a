"""Replay labelled examples through the real engine with a simulated reviewer.

Items arrive in file order, in batches; the AI step and routing run exactly as in
production; every item routed to a person is decided by a simulated reviewer who
answers with the true label, or — at `reviewer_error_rate` — with another label
picked at random; the built-in model retrains as it would in production. Under
`review.consensus` each vote (and the tie-break) comes from a different simulated
reviewer, each erring independently.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from signoff.domain import errors
from signoff.domain.states import Role
from signoff.domain.workflow import WorkflowSpec
from signoff.services import calibration, groups, intake, processing, review, users
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.storage import items
from signoff.storage import users as user_queries

REVIEWER_EMAIL = "simulated-reviewer@signoff.local"
#: The simulated reviewers' error draws repeat from run to run.
ERROR_SEED = 14


@dataclass
class EvalResult:
    items: int = 0
    auto: int = 0
    auto_errors: int = 0
    human_reviews: int = 0
    #: Human-decided items whose final label is not the true one (reviewer mistakes).
    human_label_errors: int = 0
    #: Decisions the simulated reviewers made (votes and tie-breaks included).
    reviewer_decisions: int = 0
    reviewer_mistakes: int = 0
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
            "human_label_errors": self.human_label_errors,
            "human_label_error_rate": self.human_label_errors / self.human_reviews
            if self.human_reviews
            else 0.0,
            "reviewer_decisions": self.reviewer_decisions,
            "reviewer_mistakes": self.reviewer_mistakes,
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


def simulated_reviewer(ctx: Context, email: str = REVIEWER_EMAIL) -> users.Principal:
    with ctx.sessions() as session:
        row = user_queries.read_user_by_email(session, email)
    user_id = row.id if row is not None else users.add_user(ctx, email, Role.REVIEWER, actor="eval")
    return users.Principal(user_id, email, Role.REVIEWER)


def simulated_panel(ctx: Context, spec: WorkflowSpec) -> list[users.Principal]:
    """One simulated reviewer, or under consensus one per vote and one for the tie-break.

    They join the groups the workflow sends tasks to, so they can take them.
    """
    policy = spec.review.consensus
    if policy is None:
        panel = [simulated_reviewer(ctx)]
    else:
        panel = [
            simulated_reviewer(ctx, f"simulated-reviewer-{i + 1}@signoff.local")
            for i in range(policy.reviewers + 1)
        ]
    names = spec.review.assignment.groups()
    if policy is not None and policy.escalate_to and policy.escalate_to not in names:
        names.append(policy.escalate_to)
    for name in names:
        groups.add_members(ctx, name, [str(p.email) for p in panel], actor="eval")
    return panel


@dataclass
class SimulatedReviewers:
    """Reviewers who answer with the true label, except at `error_rate` (another label)."""

    panel: list[users.Principal]
    error_rate: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(ERROR_SEED))
    decisions: int = 0
    mistakes: int = 0

    def answer(self, truth: str, labels: Sequence[str]) -> str:
        self.decisions += 1
        others = [label for label in labels if label != truth]
        if others and self.error_rate > 0 and self.rng.random() < self.error_rate:
            self.mistakes += 1
            return self.rng.choice(others)
        return truth


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
    reviewer_error_rate: float = 0.0,
) -> EvalResult:
    """Run `(text, true_label)` examples (with `metadata`, one per example) through the engine.

    With `reviews_per_batch`, the reviewer decides at most that many tasks after each
    batch (in the queue's order) and the rest wait: the queue order then decides which
    items the model learns from. `reviewer_error_rate`: each simulated reviewer's
    chance of answering a wrong label. Returns the realised figures.
    """
    if not 0.0 <= reviewer_error_rate <= 1.0:
        raise errors.ValidationFailed(
            "reviewer_error_rate: must be between 0 and 1", field="reviewer_error_rate"
        )
    if metadata is not None and len(metadata) != len(examples):
        raise errors.ValidationFailed("metadata needs one mapping per example")
    view = workflow_service.get_workflow(ctx, workflow)
    unknown = {label for _, label in examples} - set(view.spec.labels)
    if unknown:
        raise errors.ValidationFailed(f"labels {sorted(unknown)} are not in the workflow's labels")
    reviewers = SimulatedReviewers(simulated_panel(ctx, view.spec), reviewer_error_rate)
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
        _decide_all(ctx, reviewers, workflow, truths, view.spec, reviews_per_batch)
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
                if row.final_label is not None and row.final_label != label:
                    result.human_label_errors += 1
                if row.prediction and row.prediction.get("error"):
                    result.ai_errors += 1
        if progress:
            progress(len(chunk))
    if current.items:
        result.learning_curve.append(current.row(_threshold(ctx, view)))
    result.reviewer_decisions = reviewers.decisions
    result.reviewer_mistakes = reviewers.mistakes
    return result


def _decide_all(
    ctx: Context,
    reviewers: SimulatedReviewers,
    workflow: str,
    truth: dict[int, str],
    spec: WorkflowSpec,
    capacity: int | None = None,
) -> None:
    """Answer open tasks (all, or `capacity` of them), the panel taking turns."""
    decided = 0
    idle = 0
    turn = 0
    while (capacity is None or decided < capacity) and idle < len(reviewers.panel):
        reviewer = reviewers.panel[turn % len(reviewers.panel)]
        turn += 1
        task = review.claim_next_task(ctx, reviewer, workflow)
        if task is None:
            # Nothing this reviewer may take (under consensus: votes they already cast).
            idle += 1
            continue
        idle = 0
        decided += 1
        label = truth.get(task.item_id)
        if label is None:  # a task from before this replay: answer with the AI's label
            row = _read(ctx, [task.item_id])[0]
            label = row.ai_label
        else:
            label = reviewers.answer(label, spec.labels)
        decision = review.DecisionInput(
            outcome=spec.review.outcome_for(label),
            label=label,
            comment=f"simulated reviewer: the label is {label}",
        )
        review.decide(ctx, reviewer, task.id, decision)


def _read(ctx: Context, ids: list[int]) -> list[Any]:
    with ctx.sessions() as session:
        return items.list_outcomes(session, ids)


def _threshold(ctx: Context, view: workflow_service.WorkflowView) -> float | None:
    return calibration.threshold_in_force(ctx, view.id, view.spec)
