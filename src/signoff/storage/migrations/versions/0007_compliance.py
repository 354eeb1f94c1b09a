"""compliance: stop switch, content hashes, retention purge, legal holds

Revision ID: 0007_compliance
Revises: 0006_keyed_audit
Create Date: 2026-12-02 14:00:00

Workflows get the pause an admin set (mode, reason, who, when). Items get the sha256 of
their canonical content (NULL on items stored before: computed when read or purged),
when retention purged their payload, and a legal hold that stops the purge.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import signoff.storage.types

revision = "0007_compliance"
down_revision = "0006_keyed_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_mode", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("paused_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("paused_by", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("paused_at", signoff.storage.types.UTCDateTime(), nullable=True)
        )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("content_purged_at", signoff.storage.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("legal_hold_at", signoff.storage.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("legal_hold_by", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("legal_hold_by")
        batch_op.drop_column("legal_hold_at")
        batch_op.drop_column("content_purged_at")
        batch_op.drop_column("content_hash")
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.drop_column("paused_at")
        batch_op.drop_column("paused_by")
        batch_op.drop_column("paused_reason")
        batch_op.drop_column("paused_mode")
