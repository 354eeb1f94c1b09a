"""Queries on the learning state every process shares: decision counter, retrain lease."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from signoff.storage import engine, rollups
from signoff.storage import tables as t

_STATE = t.learning_state


def _insert(session: Session) -> Any:
    dialect = postgresql if engine.dialect_name(session) == "postgresql" else sqlite
    return dialect.insert(_STATE)


def count_decision(session: Session, workflow_id: int, item_id: int = 0) -> None:
    """Add one human decision to the workflow's counter (inside the decision's transaction),
    in the item's shard (rollups.shard_of, as the dashboard's counters)."""
    table = t.decision_counts
    dialect = postgresql if engine.dialect_name(session) == "postgresql" else sqlite
    statement = dialect.insert(table).values(
        workflow_id=workflow_id, shard=rollups.shard_of(item_id), n=1
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.workflow_id, table.c.shard], set_={"n": table.c.n + 1}
        )
    )


def read_decisions(session: Session, workflow_id: int) -> int:
    """How many human decisions the workflow has had (its shards added up)."""
    value = session.execute(
        sa.select(sa.func.sum(t.decision_counts.c.n)).where(
            t.decision_counts.c.workflow_id == workflow_id
        )
    ).scalar()
    return int(value or 0)


def claim_retrain(
    session: Session, workflow_id: int, owner: str, now: datetime, expires_at: datetime
) -> bool:
    """Take the workflow's retrain lease unless another owner holds it unexpired."""
    session.execute(
        _insert(session)
        .values(workflow_id=workflow_id)
        .on_conflict_do_nothing(index_elements=[_STATE.c.workflow_id])
    )
    result = session.execute(
        sa.update(_STATE)
        .where(
            _STATE.c.workflow_id == workflow_id,
            sa.or_(
                _STATE.c.retrain_lease_expires_at.is_(None),
                _STATE.c.retrain_lease_expires_at <= now,
            ),
        )
        .values(retrain_owner=owner, retrain_lease_expires_at=expires_at)
    )
    return engine.rowcount(result) == 1


def release_retrain(
    session: Session, workflow_id: int, owner: str, expires_at: datetime | None = None
) -> bool:
    """Give the lease back (or keep it blocked until `expires_at`); False if it was lost."""
    result = session.execute(
        sa.update(_STATE)
        .where(_STATE.c.workflow_id == workflow_id, _STATE.c.retrain_owner == owner)
        .values(
            retrain_owner=None if expires_at is None else owner,
            retrain_lease_expires_at=expires_at,
        )
    )
    return engine.rowcount(result) == 1
