"""learning state

Revision ID: 0003_learning_state
Revises: 0002
Create Date: 2026-12-02 05:00:00

One row per workflow that every process reads: a counter of human decisions
(calibration revalidates its cached threshold against it) and the retrain lease
(so exactly one worker trains a workflow at a time).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import signoff.storage.types

revision = "0003_learning_state"
down_revision = "0003_access"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "learning_state",
        sa.Column("workflow_id", _BIG_ID, nullable=False),
        sa.Column("decisions", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("retrain_owner", sa.String(length=64), nullable=True),
        sa.Column("retrain_lease_expires_at", signoff.storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name="fk_learning_state_workflow_id_workflows",
        ),
        sa.PrimaryKeyConstraint("workflow_id", name="pk_learning_state"),
    )


def downgrade() -> None:
    op.drop_table("learning_state")
