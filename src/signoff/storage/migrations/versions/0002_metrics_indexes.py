"""metrics indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:00:00

Indexes the dashboard, /api/v1/metrics/summary and /metrics aggregate on, so their
queries stay index range scans at a million items.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_INDEXES: list[tuple[str, str, list[str]]] = [
    ("ix_items_decided_at", "items", ["decided_at"]),
    ("ix_items_route_decided", "items", ["route", "decided_at"]),
    ("ix_items_routed_at", "items", ["routed_at"]),
    ("ix_review_tasks_due_status", "review_tasks", ["due_at", "status"]),
    ("ix_review_tasks_status_decided", "review_tasks", ["status", "decided_at"]),
]


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
