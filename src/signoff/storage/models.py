"""Queries on the built-in learner's labelled examples and model versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from signoff.storage import oversight
from signoff.storage import tables as t

_SUMMARY = (
    t.model_versions.c.version,
    t.model_versions.c.n_labels,
    t.model_versions.c.metrics,
    t.model_versions.c.created_at,
    t.model_versions.c.active,
)


def create_examples(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(sa.insert(t.labelled_examples), rows)


def list_examples(session: Session, workflow_id: int) -> list[Any]:
    """The workflow's training examples, less those labelled by a reviewer flagged on it."""
    e, i = t.labelled_examples.c, t.items.c
    flagged = (
        sa.select(i.id)
        .where(i.id == e.item_id, oversight.decided_by_flagged(i.decided_by, i.workflow_id))
        .exists()
    )
    return list(
        session.execute(
            sa.select(e.text, e.label).where(e.workflow_id == workflow_id, ~flagged).order_by(e.id)
        )
    )


def count_examples(session: Session, workflow_id: int) -> int:
    return int(
        session.execute(
            sa.select(sa.func.count()).where(t.labelled_examples.c.workflow_id == workflow_id)
        ).scalar_one()
    )


def count_examples_by_label(session: Session, workflow_id: int) -> dict[str, int]:
    c = t.labelled_examples.c
    rows = session.execute(
        sa.select(c.label, sa.func.count()).where(c.workflow_id == workflow_id).group_by(c.label)
    )
    return {str(label): int(n) for label, n in rows}


def _active_by_name(workflow: str, *columns: Any) -> sa.Select[Any]:
    return (
        sa.select(*columns)
        .select_from(
            t.model_versions.join(t.workflows, t.workflows.c.id == t.model_versions.c.workflow_id)
        )
        .where(t.workflows.c.name == workflow, t.model_versions.c.active.is_(True))
    )


def read_active_version(session: Session, workflow: str) -> int | None:
    """The active model's version number for a workflow name (cheap: no artifact)."""
    value = session.execute(_active_by_name(workflow, t.model_versions.c.version)).scalar()
    return None if value is None else int(value)


def read_active_artifact(session: Session, workflow: str) -> bytes | None:
    value = session.execute(_active_by_name(workflow, t.model_versions.c.artifact)).scalar()
    return None if value is None else bytes(value)


def read_active_summary(session: Session, workflow_id: int) -> Any | None:
    return session.execute(
        sa.select(*_SUMMARY).where(
            t.model_versions.c.workflow_id == workflow_id, t.model_versions.c.active.is_(True)
        )
    ).first()


def list_versions(session: Session, workflow_id: int) -> list[Any]:
    return list(
        session.execute(
            sa.select(*_SUMMARY)
            .where(t.model_versions.c.workflow_id == workflow_id)
            .order_by(t.model_versions.c.version.desc())
        )
    )


def create_active_version(
    session: Session,
    workflow_id: int,
    n_labels: int,
    metrics: dict[str, Any],
    artifact: bytes,
    now: datetime,
) -> int:
    """Store a trained model as the next version and make it the only active one."""
    latest = session.execute(
        sa.select(sa.func.max(t.model_versions.c.version)).where(
            t.model_versions.c.workflow_id == workflow_id
        )
    ).scalar_one()
    version = int(latest or 0) + 1
    session.execute(
        sa.update(t.model_versions)
        .where(t.model_versions.c.workflow_id == workflow_id)
        .values(active=False)
    )
    session.execute(
        sa.insert(t.model_versions).values(
            workflow_id=workflow_id,
            version=version,
            created_at=now,
            n_labels=n_labels,
            metrics=metrics,
            artifact=artifact,
            active=True,
        )
    )
    return version
