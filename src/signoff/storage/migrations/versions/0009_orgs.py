"""orgs: tenants owning workflows, users, API keys and reviewer groups

Revision ID: 0009_orgs
Revises: 0008_rollups
Create Date: 2026-12-03 06:40:00

Creates `orgs` with one org, `default`, that owns every workflow and reviewer group
already stored. Existing users and keys stay the platform's (org NULL), so they keep
seeing what they saw.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import signoff.storage.types

revision = "0009_orgs"
down_revision = "0008_rollups"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OWNED = ("workflows", "reviewer_groups")
_OPTIONAL = ("users", "api_keys")


def upgrade() -> None:
    orgs = op.create_table(
        "orgs",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("items_per_day", sa.Integer(), nullable=True),
        sa.Column("open_tasks", sa.Integer(), nullable=True),
        sa.Column("requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("created_at", signoff.storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orgs")),
        sa.UniqueConstraint("name", name=op.f("uq_orgs_name")),
    )
    op.bulk_insert(
        orgs,
        [{"id": 1, "name": "default", "display_name": "Default", "created_at": datetime.now(UTC)}],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('orgs', 'id'), 1)")
    for table in _OWNED + _OPTIONAL:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("org_id", _BIG_ID, nullable=True))
    for table in _OWNED:
        op.execute(f"UPDATE {table} SET org_id = 1")  # noqa: S608 - fixed table names
    for table in _OWNED + _OPTIONAL:
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table in _OWNED:
                batch_op.alter_column("org_id", existing_type=_BIG_ID, nullable=False)
            batch_op.create_index(batch_op.f(f"ix_{table}_org_id"), ["org_id"], unique=False)
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_org_id_orgs"), "orgs", ["org_id"], ["id"]
            )


def downgrade() -> None:
    for table in _OWNED + _OPTIONAL:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_org_id_orgs"), type_="foreignkey")
            batch_op.drop_index(batch_op.f(f"ix_{table}_org_id"))
            batch_op.drop_column("org_id")
    op.drop_table("orgs")
