"""Labels and model versions for the built-in learner: record, import, train, serve."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session

from signoff.ai import base as ai
from signoff.domain import errors
from signoff.domain.workflow import WorkflowSpec
from signoff.services import calibration
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.storage import audit, engine, models

log = logging.getLogger(__name__)

LEARNING_PROVIDERS = {"builtin"}
_training_lock = threading.Lock()
_training_now: set[tuple[int, int]] = set()


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
            session, "labels_imported", "cli", {"workflow": workflow, "count": total}, now
        )
    return total


def count_labels(ctx: Context, workflow_id: int) -> int:
    with ctx.sessions() as session:
        return models.count_examples(session, workflow_id)


def active_model_info(ctx: Context, workflow_id: int) -> Any | None:
    """Version, label count, metrics and time of the active model, or None."""
    with ctx.sessions() as session:
        return models.read_active_summary(session, workflow_id)


def train_workflow(ctx: Context, workflow: str, actor: str = "cli") -> dict[str, Any]:
    """Train the built-in model on every label so far and make it the active version."""
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
        version = models.create_active_version(session, view.id, len(rows), metrics, artifact, now)
        audit.append_system_event(
            session,
            "model_trained",
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
    """After a human decision: refresh calibration, and retrain when enough labels arrived."""
    calibration.note_decision(ctx, workflow_id)
    if spec.ai.provider not in LEARNING_PROVIDERS:
        return
    if not retrain_due(ctx, workflow_id, spec):
        return
    key = (id(ctx), workflow_id)
    with _training_lock:
        if key in _training_now:
            return
        _training_now.add(key)

    def run() -> None:
        try:
            train_workflow(ctx, spec.name, actor="retrainer")
        except errors.SignoffError as exc:
            log.info("action=retrain_skipped workflow=%s reason=%s", spec.name, exc.detail)
        except Exception:
            log.exception("action=retrain_failed workflow=%s", spec.name)
        finally:
            with _training_lock:
                _training_now.discard(key)

    if getattr(ctx, "sync_training", False):
        run()
    else:
        threading.Thread(target=run, name=f"retrain-{spec.name}", daemon=True).start()


def retrain_due(ctx: Context, workflow_id: int, spec: WorkflowSpec) -> bool:
    labels = count_labels(ctx, workflow_id)
    active = active_model_info(ctx, workflow_id)
    if active is None:
        return labels >= spec.training.min_labels
    return labels - int(active.n_labels) >= spec.training.retrain_every
