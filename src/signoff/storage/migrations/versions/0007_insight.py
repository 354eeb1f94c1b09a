"""multi-label decisions, typed review fields, a queue ordered to learn

Revision ID: 0007_insight
Revises: 0007_compliance
Create Date: 2026-12-02 14:00:00

Items keep every label of a decision (`final_labels`; `final_label` stays the first)
and the values of the workflow's review fields (`final_fields`); review tasks keep
the field values their reviewer entered and, for a workflow whose queue is ordered to
learn (`review.order`), a priority and the time until which it may wait for it, with an
index that serves the claim probe in priority order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import signoff.storage.types

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision = "0007_insight"
down_revision = "0007_compliance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("final_labels", _JSON, nullable=True))
        batch_op.add_column(sa.Column("final_fields", _JSON, nullable=True))
    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fields", _JSON, nullable=True))
        batch_op.add_column(sa.Column("priority", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("learn_until", signoff.storage.types.UTCDateTime(), nullable=True)
        )
        batch_op.create_index("ix_review_tasks_learn", ["status", "priority", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_review_tasks_learn")
        batch_op.drop_column("learn_until")
        batch_op.drop_column("priority")
        batch_op.drop_column("fields")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("final_fields")
        batch_op.drop_column("final_labels")
