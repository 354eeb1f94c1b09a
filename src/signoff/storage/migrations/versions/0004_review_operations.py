"""review operations

Revision ID: 0004_review_operations
Revises: 0003_learning_state
Create Date: 2026-12-02 13:30:00

Reviewer groups and their members (with skills), and on each review task the group
it is for, the SLA timers that fired and when a reviewer first and last touched it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import signoff.storage.types

revision = "0004_review_operations"
down_revision = "0003_learning_state"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TASK_TIMES = ("reminded_at", "escalated_at", "timed_out_at", "first_touched_at", "touched_at")


def upgrade() -> None:
    op.create_table(
        "reviewer_groups",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", signoff.storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reviewer_groups"),
        sa.UniqueConstraint("name", name="uq_reviewer_groups_name"),
    )
    op.create_table(
        "group_members",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("group_id", _BIG_ID, nullable=False),
        sa.Column("user_id", _BIG_ID, nullable=False),
        sa.Column(
            "skills",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", signoff.storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["reviewer_groups.id"], name="fk_group_members_group_id_reviewer_groups"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_group_members_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_group_members"),
        sa.UniqueConstraint("group_id", "user_id", name="uq_group_members_group_user"),
    )
    op.create_index("ix_group_members_user", "group_members", ["user_id"])
    with op.batch_alter_table("review_tasks") as batch:
        batch.add_column(sa.Column("group_name", sa.String(length=64), nullable=True))
        for name in _TASK_TIMES:
            batch.add_column(sa.Column(name, signoff.storage.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review_tasks") as batch:
        for name in reversed(_TASK_TIMES):
            batch.drop_column(name)
        batch.drop_column("group_name")
    op.drop_index("ix_group_members_user", table_name="group_members")
    op.drop_table("group_members")
    op.drop_table("reviewer_groups")
