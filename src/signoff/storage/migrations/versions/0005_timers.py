"""sla timer indexes

Revision ID: 0005_timers
Revises: 0005_notify
Create Date: 2026-12-02 14:00:00

Partial indexes the SLA timer sweep and the per-group backlog metrics read: pending
review tasks (open or assigned) by (workflow_id, created_at), one each for tasks not
yet reminded and not yet escalated, and pending tasks by (group_name, created_at).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_timers"
down_revision = "0005_notify"
branch_labels = None
depends_on = None

_PENDING = "status IN ('open', 'assigned')"
_INDEXES = {
    "ix_review_tasks_remind_due": (
        ["workflow_id", "created_at"],
        f"reminded_at IS NULL AND {_PENDING}",
    ),
    "ix_review_tasks_escalate_due": (
        ["workflow_id", "created_at"],
        f"escalated_at IS NULL AND {_PENDING}",
    ),
    "ix_review_tasks_pending_created": (["workflow_id", "created_at"], _PENDING),
    "ix_review_tasks_pending_group": (["group_name", "created_at"], _PENDING),
}


def upgrade() -> None:
    for name, (columns, where) in _INDEXES.items():
        op.create_index(
            name,
            "review_tasks",
            columns,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )


def downgrade() -> None:
    for name in reversed(list(_INDEXES)):
        op.drop_index(name, table_name="review_tasks")
