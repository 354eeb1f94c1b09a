"""Queries on organisations (tenants) and what they own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from signoff.storage import rows
from signoff.storage import tables as t

#: The org that owns what was stored before orgs existed (created by migration 0009).
DEFAULT_ORG = "default"


def create_org(session: Session, values: dict[str, Any]) -> int:
    insert = sa.insert(t.orgs).values(**values).returning(t.orgs.c.id)
    return int(session.execute(insert).scalar_one())


def read_org(session: Session, name: str) -> rows.OrgRow | None:
    return cast(
        "rows.OrgRow | None",
        session.execute(sa.select(t.orgs).where(t.orgs.c.name == name)).first(),
    )


def read_org_by_id(session: Session, org_id: int) -> rows.OrgRow | None:
    return cast(
        "rows.OrgRow | None",
        session.execute(sa.select(t.orgs).where(t.orgs.c.id == org_id)).first(),
    )


def list_orgs(session: Session) -> list[rows.OrgRow]:
    return cast(
        "list[rows.OrgRow]", list(session.execute(sa.select(t.orgs).order_by(t.orgs.c.name)))
    )


def update_org(session: Session, org_id: int, values: dict[str, Any]) -> None:
    session.execute(sa.update(t.orgs).where(t.orgs.c.id == org_id).values(**values))


def list_workflow_names(session: Session, org_id: int) -> list[str]:
    query = sa.select(t.workflows.c.name).where(t.workflows.c.org_id == org_id)
    return [str(name) for name in session.execute(query).scalars()]


def list_workflow_ids(session: Session, org_id: int) -> list[int]:
    query = sa.select(t.workflows.c.id).where(t.workflows.c.org_id == org_id)
    return [int(i) for i in session.execute(query).scalars()]


def count_received_on(session: Session, workflow_ids: Sequence[int], day: str) -> int:
    """Items these workflows received on a UTC day (`YYYY-MM-DD`), from the rollups."""
    r = t.received_rollups
    query = sa.select(sa.func.coalesce(sa.func.sum(r.c.n), 0)).where(
        r.c.workflow_id.in_(workflow_ids), r.c.day == day
    )
    return int(session.execute(query).scalar_one())


def count_open_tasks(session: Session, workflow_ids: Sequence[int]) -> int:
    """Review tasks still waiting for a decision in these workflows."""
    task = t.review_tasks
    query = (
        sa.select(sa.func.count())
        .select_from(task)
        .where(task.c.workflow_id.in_(workflow_ids), sa.text(t.PENDING_SQL))
    )
    return int(session.execute(query).scalar_one())


def read_org_of_workflow(session: Session, workflow_id: int) -> rows.OrgRow:
    """The org that owns a workflow (every workflow has one)."""
    query = (
        sa.select(t.orgs)
        .select_from(t.orgs.join(t.workflows, t.workflows.c.org_id == t.orgs.c.id))
        .where(t.workflows.c.id == workflow_id)
    )
    return cast("rows.OrgRow", session.execute(query).one())
