"""time-to-decision buckets in the dashboard rollups

Revision ID: 0012_rollup_buckets
Revises: 0011_oversight
Create Date: 2026-12-03 06:40:00

Decided items by workflow × UTC day of decision × route × log-spaced bucket of the
seconds from intake to decision (20 buckets per factor of ten, one bucket under
0.01 s), so the dashboard's medians and p90s come from counters rather than from a
scan of every decided item. Backfilled here from the items already stored; from then
on written in the decision's own transaction (storage/rollups.py).
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0012_rollup_buckets"
down_revision = "0011_oversight"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The bucketing of signoff.domain.durations at this revision, copied so that the
# migration keeps meaning what it meant when the code moves on.
_PER_DECADE = 20
_MIN_SECONDS = 0.01
_UNDERFLOW = math.floor(_PER_DECADE * math.log10(_MIN_SECONDS)) - 1
_CHUNK = 10_000


def _bucket(seconds: float) -> int:
    if seconds < _MIN_SECONDS:
        return _UNDERFLOW
    bucket = math.floor(_PER_DECADE * math.log10(seconds))
    if 10 ** (bucket / _PER_DECADE) > seconds:
        bucket -= 1
    elif 10 ** ((bucket + 1) / _PER_DECADE) <= seconds:
        bucket += 1
    return max(bucket, _UNDERFLOW + 1)


def _parse(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def upgrade() -> None:
    table = op.create_table(
        "decision_time_rollups",
        sa.Column("workflow_id", _BIG_ID, nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("route", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "workflow_id", "day", "route", "bucket", name=op.f("pk_decision_time_rollups")
        ),
    )
    assert table is not None
    # Bucketed in Python, as the decisions do, so both dialects count alike; the items
    # are streamed (a server-side cursor on PostgreSQL), never all held at once.
    counts: Counter[tuple[int, str, str, int]] = Counter()
    query = sa.text(
        "SELECT workflow_id, route, created_at, decided_at FROM items"
        " WHERE decided_at IS NOT NULL AND gold_label IS NULL"
    ).execution_options(stream_results=True, yield_per=_CHUNK)
    rows = op.get_bind().execute(query)
    for workflow_id, route, created_at, decided_at in rows:
        decided = _parse(decided_at)
        seconds = (decided - _parse(created_at)).total_seconds()
        counts[(int(workflow_id), decided.date().isoformat(), route or "", _bucket(seconds))] += 1
    values = [
        {"workflow_id": w, "day": d, "route": r, "bucket": b, "n": n}
        for (w, d, r, b), n in sorted(counts.items())
    ]
    for start in range(0, len(values), _CHUNK):
        op.bulk_insert(table, values[start : start + _CHUNK])


def downgrade() -> None:
    op.drop_table("decision_time_rollups")
