"""blind review and gold items

Revision ID: 0011_oversight
Revises: 0009_orgs
Create Date: 2026-12-03 06:40:00

Items record whether they were reviewed blind (without the AI's suggestion) and, for a
gold item, its known label; gold items wait in `gold_items` until they are mixed into
the queue; `reviewer_flags` holds reviewers flagged for gold accuracy below the floor.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import signoff.storage.types

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0011_oversight"
down_revision = "0009_orgs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("blind", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("gold_label", sa.String(length=255), nullable=True))
    op.create_table(
        "gold_items",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("workflow_id", _ID, nullable=False),
        sa.Column("content", _JSON, nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", signoff.storage.types.UTCDateTime(), nullable=False),
        sa.Column("item_id", _ID, nullable=True),
        sa.Column("released_at", signoff.storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflows.id"], name="fk_gold_items_workflow_id_workflows"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_gold_items"),
    )
    op.create_index(
        "ix_gold_items_workflow_item", "gold_items", ["workflow_id", "item_id"], unique=False
    )
    op.create_table(
        "reviewer_flags",
        sa.Column("workflow_id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("flagged_at", signoff.storage.types.UTCDateTime(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("upper", sa.Float(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_reviewer_flags_user_id_users"),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflows.id"], name="fk_reviewer_flags_workflow_id_workflows"
        ),
        sa.PrimaryKeyConstraint("workflow_id", "user_id", name="pk_reviewer_flags"),
    )


def downgrade() -> None:
    op.drop_table("reviewer_flags")
    op.drop_index("ix_gold_items_workflow_item", table_name="gold_items")
    op.drop_table("gold_items")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("gold_label")
        batch_op.drop_column("blind")
