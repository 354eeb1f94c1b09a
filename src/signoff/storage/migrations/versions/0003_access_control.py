"""access control: key scopes and workflows, server-side sessions, sign-in throttles

Revision ID: 0003_access
Revises: 0002
Create Date: 2026-12-02 05:00:00

Keys made before scopes existed keep working as they did: service keys (no user)
get the `admin` scope, personal keys keep acting with their user's role.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import signoff.storage.types

revision = "0003_access"
down_revision = "0002"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scopes", _JSON, nullable=True))
        batch_op.add_column(sa.Column("workflows", _JSON, nullable=True))
    api_keys = sa.table("api_keys", sa.column("user_id", _BIG_ID), sa.column("scopes", _JSON))
    op.execute(api_keys.update().where(api_keys.c.user_id.is_(None)).values(scopes=["admin"]))

    op.create_table(
        "user_sessions",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", _BIG_ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", signoff.storage.types.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", signoff.storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_user_sessions_user_id", ["user_id"], unique=False)

    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("window_start", signoff.storage.types.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttles")),
    )


def downgrade() -> None:
    op.drop_table("login_throttles")
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_user_sessions_user_id")
    op.drop_table("user_sessions")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("workflows")
        batch_op.drop_column("scopes")
