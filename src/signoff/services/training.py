"""Labels and model versions for the built-in learner: record, import, train, serve."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from signoff.ai import base as ai
from signoff.domain import audit as audit_rules
from signoff.domain import errors
from signoff.domain.workflow import WorkflowSpec
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.storage import audit, engine, learning, models

log = logging.getLogger(__name__)

LEARNING_PROVIDERS = {"builtin", "transformers"}


class ModelStore:
    """Serves the active model of a workflow to providers from the database.

    Providers throttle how often they ask; `active_model_version` lets them read the
    (large) artifact only when the version moved.
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def active_model_version(self, workflow: str) -> str | None:
        with self._ctx.sessions() as session:
            version = models.read_active_version(session, workflow)
        return None if version is None else str(version)

    def load_active_model(self, workflow: str) -> tuple[str, bytes] | None:
        with self._ctx.sessions() as session:
            version = models.read_active_version(session, workflow)
            artifact = models.read_active_artifact(session, workflow) if version else None
        if version is None or artifact is None:
            return None
        return str(version), artifact


def record_label(session: Session, item: Any, spec: WorkflowSpec, label: str, now: Any) -> None:
    """A reviewer's label becomes a training example (inside the decision's transaction)."""
    models.create_examples(
        session,
        [
            {
                "workflow_id": item.workflow_id,
                "text": ai.text_of(item.content, spec.ai.text_field),
                "label": label,
                "source": "review",
                "item_id": item.id,
                "created_at": now,
            }
        ],
    )


def import_labels(
    ctx: Context,
    workflow: str,
    rows: Iterable[tuple[str, str]],
    progress: Callable[[int], None] | None = None,
    batch: int = 500,
) -> int:
    """Load (text, label) seed examples; labels must be the workflow's own."""
    view = workflow_service.get_workflow(ctx, workflow)
    allowed = set(view.spec.labels)
    total = 0
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal chunk
        if chunk:
            with engine.transaction(ctx.sessions) as session:
                models.create_examples(session, chunk)
            if progress:
                progress(len(chunk))
            chunk = []

    now = ctx.clock.now()
    for line, (text, label) in enumerate(rows, start=1):
        if label not in allowed:
            raise errors.ValidationFailed(
                f"line {line}: label {label!r} is not one of {sorted(allowed)}", line=line
            )
        chunk.append(
            {
                "workflow_id": view.id,
                "text": text,
                "label": label,
                "source": "import",
                "created_at": now,
            }
        )
        total += 1
        if len(chunk) >= batch:
            flush()
    flush()
    with engine.transaction(ctx.sessions) as session:
        audit.append_system_event(
            session,
            audit_rules.EventKind.LABELS_IMPORTED,
            "cli",
            {"workflow": workflow, "count": total},
            now,
        )
    return total


def count_labels(ctx: Context, workflow_id: int) -> int:
    with ctx.sessions() as session:
        return models.count_examples(session, workflow_id)


def active_model_info(ctx: Context, workflow_id: int) -> Any | None:
    """Version, label count, metrics and time of the active model, or None."""
    with ctx.sessions() as session:
        return models.read_active_summary(session, workflow_id)


def label_counts(ctx: Context, workflow_id: int) -> dict[str, int]:
    """How often each label was learned: the active model's counts, else the examples'."""
    with ctx.sessions() as session:
        active = models.read_active_summary(session, workflow_id)
        counts = (active.metrics or {}).get("label_counts") if active is not None else None
        if isinstance(counts, dict) and counts:
            return {str(k): int(v) for k, v in counts.items()}
        return models.count_examples_by_label(session, workflow_id)


def list_model_versions(ctx: Context, workflow: str) -> list[Any]:
    view = workflow_service.get_workflow(ctx, workflow)
    with ctx.sessions() as session:
        return models.list_versions(session, view.id)


class RetrainLeaseLost(errors.SignoffError):
    """Another worker took over this workflow's retrain; this model is not stored."""

    code = "retrain_lease_lost"


def train_workflow(
    ctx: Context, workflow: str, actor: str = "cli", lease_owner: str | None = None
) -> dict[str, Any]:
    """Train the built-in model on every label so far and make it the active version.

    With `lease_owner`, the model is stored only while that owner still holds the
    workflow's retrain lease, and the lease is released in the same transaction.
    """
    from signoff.ai import learner  # scikit-learn loads only when training

    view = workflow_service.get_workflow(ctx, workflow)
    with ctx.sessions() as session:
        rows = models.list_examples(session, view.id)
    if len(rows) < view.spec.training.min_labels:
        raise errors.NotEnoughData(
            f"{workflow} has {len(rows)} labels; training needs {view.spec.training.min_labels}"
        )
    model = learner.train_for_workflow(view.spec, [r.text for r in rows], [r.label for r in rows])
    artifact = model.to_bytes()
    metrics = dict(model.metrics)
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        if lease_owner is not None and not learning.release_retrain(session, view.id, lease_owner):
            raise RetrainLeaseLost(workflow=workflow)
        version = models.create_active_version(session, view.id, len(rows), metrics, artifact, now)
        audit.append_system_event(
            session,
            audit_rules.EventKind.MODEL_TRAINED,
            actor,
            {
                "workflow": workflow,
                "version": version,
                "n_labels": len(rows),
                "accuracy": metrics.get("accuracy"),
                "ece": metrics.get("ece"),
            },
            now,
        )
    log.info(
        "action=model_trained workflow=%s version=%s n_labels=%s", workflow, version, len(rows)
    )
    return {"workflow": workflow, "version": version, "n_labels": len(rows), "metrics": metrics}


def note_new_label(ctx: Context, workflow_id: int, spec: WorkflowSpec) -> None:
    """After a human decision: with `ctx.sync_training`, retrain now if the schedule says so.

    Otherwise the workers' retrain loop (`retrain_due_workflows`) picks it up: training
    never runs in a reviewer's request.
    """
    if not ctx.sync_training or spec.ai.provider not in LEARNING_PROVIDERS:
        return
    # A replay compresses time: only the label counts of the schedule apply.
    if retrain_due(ctx, workflow_id, spec, min_interval=False):
        try:
            train_workflow(ctx, spec.name, actor="retrainer")
        except errors.SignoffError as exc:
            log.info("action=retrain_skipped workflow=%s reason=%s", spec.name, exc.detail)


def retrain_due(
    ctx: Context, workflow_id: int, spec: WorkflowSpec, *, min_interval: bool = True
) -> bool:
    """The retrain schedule: a first model at `min_labels`, then once labels grew enough.

    Enough means at least `retrain_every` new labels and at least `retrain_growth` times
    the labels of the active model, and `retrain_min_interval_seconds` since it was made.
    Growth by a fraction keeps the total training cost linear in the labels (a geometric
    series) instead of quadratic.
    """
    labels = count_labels(ctx, workflow_id)
    active = active_model_info(ctx, workflow_id)
    training_spec = spec.training
    if active is None:
        return labels >= training_spec.min_labels
    trained_on = int(active.n_labels)
    needed = max(training_spec.retrain_every, math.ceil(training_spec.retrain_growth * trained_on))
    if labels - trained_on < needed:
        return False
    if not min_interval:
        return True
    age = float((ctx.clock.now() - active.created_at).total_seconds())
    return age >= training_spec.retrain_min_interval_seconds


def retrain_due_workflows(ctx: Context, owner: str) -> int:
    """Train each learning workflow whose schedule is due and whose lease `owner` wins."""
    trained = 0
    for view in workflow_service.list_workflows(ctx):
        if view.spec.ai.provider not in LEARNING_PROVIDERS:
            continue
        if retrain_due(ctx, view.id, view.spec) and _retrain_under_lease(ctx, view, owner):
            trained += 1
    return trained


def _retrain_under_lease(ctx: Context, view: workflow_service.WorkflowView, owner: str) -> bool:
    now = ctx.clock.now()
    lease = timedelta(seconds=ctx.settings.worker.retrain_lease_seconds)
    with engine.transaction(ctx.sessions) as session:
        if not learning.claim_retrain(session, view.id, owner, now, now + lease):
            return False
    try:
        # Another worker may have stored a model between our check and our claim.
        if not retrain_due(ctx, view.id, view.spec):
            with engine.transaction(ctx.sessions) as session:
                learning.release_retrain(session, view.id, owner)
            return False
        train_workflow(ctx, view.name, actor="retrainer", lease_owner=owner)
    except RetrainLeaseLost:
        log.warning("action=retrain_lease_lost workflow=%s owner=%s", view.name, owner)
        return False
    # In both cases the lease stays taken until it expires: a failing training backs off.
    except errors.SignoffError as exc:  # e.g. every label so far is the same one
        log.info("action=retrain_skipped workflow=%s reason=%s", view.name, exc.detail)
        return False
    except Exception:
        log.exception("action=retrain_failed workflow=%s owner=%s", view.name, owner)
        return False
    return True
