"""Queries on workflows and their versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from signoff.storage import rows
from signoff.storage import tables as t


def read_workflow(session: Session, name: str) -> rows.WorkflowRow | None:
    return cast(
        "rows.WorkflowRow | None",
        session.execute(sa.select(t.workflows).where(t.workflows.c.name == name)).first(),
    )


def read_workflow_by_id(session: Session, workflow_id: int) -> rows.WorkflowRow | None:
    return cast(
        "rows.WorkflowRow | None",
        session.execute(sa.select(t.workflows).where(t.workflows.c.id == workflow_id)).first(),
    )


def list_workflows(session: Session) -> list[rows.WorkflowRow]:
    return cast(
        "list[rows.WorkflowRow]",
        list(session.execute(sa.select(t.workflows).order_by(t.workflows.c.name))),
    )


def read_version(
    session: Session, workflow_id: int, version: int
) -> rows.WorkflowVersionRow | None:
    return cast(
        "rows.WorkflowVersionRow | None",
        session.execute(
            sa.select(t.workflow_versions).where(
                t.workflow_versions.c.workflow_id == workflow_id,
                t.workflow_versions.c.version == version,
            )
        ).first(),
    )


def list_versions(session: Session, workflow_id: int) -> list[rows.WorkflowVersionRow]:
    return cast(
        "list[rows.WorkflowVersionRow]",
        list(
            session.execute(
                sa.select(t.workflow_versions)
                .where(t.workflow_versions.c.workflow_id == workflow_id)
                .order_by(t.workflow_versions.c.version.desc())
            )
        ),
    )


def create_workflow(session: Session, name: str, now: datetime, org_id: int) -> int:
    return int(
        session.execute(
            sa.insert(t.workflows)
            .values(name=name, org_id=org_id, current_version=0, created_at=now, updated_at=now)
            .returning(t.workflows.c.id)
        ).scalar_one()
    )


def create_version(
    session: Session,
    workflow_id: int,
    version: int,
    spec: dict[str, Any],
    source: str,
    created_by: str | None,
    now: datetime,
) -> None:
    session.execute(
        sa.insert(t.workflow_versions).values(
            workflow_id=workflow_id,
            version=version,
            spec=spec,
            source=source,
            created_by=created_by,
            created_at=now,
        )
    )
    session.execute(
        sa.update(t.workflows)
        .where(t.workflows.c.id == workflow_id)
        .values(current_version=version, updated_at=now)
    )


def update_pause(
    session: Session,
    workflow_id: int,
    *,
    mode: str | None,
    reason: str | None,
    by: str | None,
    at: datetime | None,
) -> None:
    """Set (mode given) or clear (mode None) a workflow's pause."""
    session.execute(
        sa.update(t.workflows)
        .where(t.workflows.c.id == workflow_id)
        .values(paused_mode=mode, paused_reason=reason, paused_by=by, paused_at=at)
    )


def read_pauses(session: Session, workflow_ids: list[int]) -> dict[int, Any]:
    """The pause columns of these workflows, by id."""
    rows = session.execute(
        sa.select(
            t.workflows.c.id,
            t.workflows.c.paused_mode,
            t.workflows.c.paused_reason,
            t.workflows.c.paused_by,
            t.workflows.c.paused_at,
        ).where(t.workflows.c.id.in_(workflow_ids))
    )
    return {r.id: r for r in rows}


def list_paused(session: Session) -> list[rows.WorkflowRow]:
    """The workflows an admin paused, by name."""
    return cast(
        "list[rows.WorkflowRow]",
        list(
            session.execute(
                sa.select(t.workflows)
                .where(t.workflows.c.paused_mode.is_not(None))
                .order_by(t.workflows.c.name)
            )
        ),
    )
