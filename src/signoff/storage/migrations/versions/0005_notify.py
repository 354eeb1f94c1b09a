"""notifications

Revision ID: 0005_notify
Revises: 0005_assign
Create Date: 2026-12-02 15:00:00

Action links carried by messages (single use, expiring), each user's choice of
digest, and the entries waiting for a user's next digest email.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import signoff.storage.types

revision = "0005_notify"
down_revision = "0005_assign"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_TIME = signoff.storage.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "action_links",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("task_id", _BIG_ID, nullable=False),
        sa.Column("item_id", _BIG_ID, nullable=False),
        sa.Column("user_id", _BIG_ID, nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("expires_at", _TIME(), nullable=False),
        sa.Column("used_at", _TIME(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["review_tasks.id"], name="fk_action_links_task_id_review_tasks"
        ),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name="fk_action_links_item_id_items"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_action_links_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_action_links"),
    )
    op.create_index("ix_action_links_task", "action_links", ["task_id"])
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", _BIG_ID, nullable=False),
        sa.Column("digest_minutes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("digest_sent_at", _TIME(), nullable=True),
        sa.Column("updated_at", _TIME(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_notification_preferences_user_id_users"
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_notification_preferences"),
    )
    op.create_table(
        "digest_entries",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", _BIG_ID, nullable=False),
        sa.Column("item_id", _BIG_ID, nullable=True),
        sa.Column("workflow_id", _BIG_ID, nullable=True),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("digested_at", _TIME(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_digest_entries_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_digest_entries"),
    )
    op.create_index("ix_digest_entries_user_digested", "digest_entries", ["user_id", "digested_at"])


def downgrade() -> None:
    op.drop_index("ix_digest_entries_user_digested", table_name="digest_entries")
    op.drop_table("digest_entries")
    op.drop_table("notification_preferences")
    op.drop_index("ix_action_links_task", table_name="action_links")
    op.drop_table("action_links")
