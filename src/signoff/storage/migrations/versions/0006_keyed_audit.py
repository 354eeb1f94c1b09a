"""keyed audit chains and API key expiry

Revision ID: 0006_keyed_audit
Revises: 0005_timers
Create Date: 2026-12-02 13:30:00

Audit events get the id of the HMAC key that signed them; events already stored keep
key id NULL, which marks them as legacy SHA-256 events that still verify as before.
API keys get an optional expiry and the id of the key a rotation replaced.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import signoff.storage.types

revision = "0006_keyed_audit"
down_revision = "0005_timers"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expires_at", signoff.storage.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("rotated_from", _BIG_ID, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("rotated_from")
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("key_id")
