"""assignment

Revision ID: 0005_assign
Revises: 0004_review_operations
Create Date: 2026-12-02 15:00:00

Assignment and claims: the round-robin cursor of each reviewer group (shared by
every worker), when each hold on a task lapses (claim_timeout / claim_minutes,
renewed when the assignee touches the task), and two indexes that serve claims in
due order without sorting the backlog: (status, due_at, id) for open tasks and
(status, hold_expires_at) for lapsed holds.

Holds taken before this revision get `hold_expires_at = assigned_at`: they may be
taken over by another reviewer at once (the holder keeps them until then).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import signoff.storage.types

revision = "0005_assign"
down_revision = "0004_review_operations"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "assignment_cursors",
        sa.Column("group_name", sa.String(length=64), nullable=False),
        sa.Column("last_user_id", _BIG_ID, nullable=True),
        sa.Column("updated_at", signoff.storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("group_name", name="pk_assignment_cursors"),
    )
    with op.batch_alter_table("review_tasks") as batch:
        batch.add_column(
            sa.Column("hold_expires_at", signoff.storage.types.UTCDateTime(), nullable=True)
        )
    op.execute("UPDATE review_tasks SET hold_expires_at = assigned_at WHERE status = 'assigned'")
    op.create_index("ix_review_tasks_claim", "review_tasks", ["status", "due_at", "id"])
    op.create_index("ix_review_tasks_status_hold", "review_tasks", ["status", "hold_expires_at"])


def downgrade() -> None:
    op.drop_index("ix_review_tasks_status_hold", table_name="review_tasks")
    op.drop_index("ix_review_tasks_claim", table_name="review_tasks")
    with op.batch_alter_table("review_tasks") as batch:
        batch.drop_column("hold_expires_at")
    op.drop_table("assignment_cursors")
