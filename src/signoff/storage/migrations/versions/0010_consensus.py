"""M-of-N consensus review

Revision ID: 0010_consensus
Revises: 0012_rollup_buckets
Create Date: 2026-12-03 06:30:00

Review tasks say what they are for a consensus item (`kind`: a `vote` or the
`tiebreak` after a disagreement; NULL for a normal task), and one reviewer holds at
most one task of an item (a unique index on item and assignee; tasks in the pool have
no assignee, and NULLs never collide), so N votes come from N distinct people even
when claims race on PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_consensus"
down_revision = "0012_rollup_buckets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=True))
        batch_op.create_index(
            "uq_review_tasks_item_assignee", ["item_id", "assignee_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        batch_op.drop_index("uq_review_tasks_item_assignee")
        batch_op.drop_column("kind")
