"""dashboard rollups

Revision ID: 0008_rollups
Revises: 0007_insight
Create Date: 2026-12-02 14:40:00

Per workflow × UTC day counters the dashboard reads instead of aggregating over all
items: decisions by route and QA sample with override counts, and the confidence
histogram (20 buckets) by route, and items received. Backfilled here from the items already stored;
from then on written in the same transaction as each decision and routing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_rollups"
down_revision = "0007_insight"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "decision_rollups",
        sa.Column("workflow_id", _BIG_ID, nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("route", sa.String(length=8), nullable=False),
        sa.Column("qa_sample", sa.Boolean(), nullable=False),
        sa.Column("n", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("overridden", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "workflow_id", "day", "route", "qa_sample", name=op.f("pk_decision_rollups")
        ),
    )
    op.create_table(
        "confidence_rollups",
        sa.Column("workflow_id", _BIG_ID, nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("route", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "workflow_id", "day", "route", "bucket", name=op.f("pk_confidence_rollups")
        ),
    )
    op.create_table(
        "received_rollups",
        sa.Column("workflow_id", _BIG_ID, nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("n", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", "day", name=op.f("pk_received_rollups")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    decided_day = "to_char(decided_at, 'YYYY-MM-DD')" if postgres else "substr(decided_at, 1, 10)"
    routed_day = "to_char(routed_at, 'YYYY-MM-DD')" if postgres else "substr(routed_at, 1, 10)"
    # Same expressions as storage/metrics.py, so backfilled counts equal the raw queries.
    bucket = (
        "CAST(floor(confidence * 20) AS INTEGER)"
        if postgres
        else "CAST(confidence * 20 AS INTEGER)"
    )
    op.execute(
        f"""
        INSERT INTO decision_rollups (workflow_id, day, route, qa_sample, n, overridden)
        SELECT workflow_id, {decided_day}, coalesce(route, ''), qa_sample, count(*),
               sum(CASE WHEN override THEN 1 ELSE 0 END)
        FROM items WHERE decided_at IS NOT NULL
        GROUP BY workflow_id, {decided_day}, coalesce(route, ''), qa_sample
        """
    )
    created_day = "to_char(created_at, 'YYYY-MM-DD')" if postgres else "substr(created_at, 1, 10)"
    op.execute(
        f"""
        INSERT INTO received_rollups (workflow_id, day, n)
        SELECT workflow_id, {created_day}, count(*) FROM items
        GROUP BY workflow_id, {created_day}
        """
    )
    op.execute(
        f"""
        INSERT INTO confidence_rollups (workflow_id, day, route, bucket, n)
        SELECT workflow_id, {routed_day}, coalesce(route, ''), {bucket}, count(*)
        FROM items WHERE routed_at IS NOT NULL AND confidence IS NOT NULL
        GROUP BY workflow_id, {routed_day}, coalesce(route, ''), {bucket}
        """
    )


def downgrade() -> None:
    op.drop_table("received_rollups")
    op.drop_table("confidence_rollups")
    op.drop_table("decision_rollups")
