"""metrics indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:00:00

Covering indexes for the dashboard, /api/v1/metrics/summary and /metrics: every
windowed aggregate becomes an index-only range scan per workflow (queries always
name the workflows, so `workflow_id IN (...)` leads). The covering items index
replaces 0001's (workflow_id, decided_at), which is its prefix.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_INDEXES: list[tuple[str, str, list[str]]] = [
    (
        "ix_items_workflow_decided_cover",
        "items",
        ["workflow_id", "decided_at", "route", "qa_sample", "override", "created_at"],
    ),
    (
        "ix_items_workflow_routed_cover",
        "items",
        ["workflow_id", "routed_at", "route", "confidence"],
    ),
    (
        "ix_review_tasks_workflow_decided_cover",
        "review_tasks",
        ["workflow_id", "status", "decided_at", "assignee_id", "due_at", "time_on_task_ms"],
    ),
]


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns, unique=False)
    op.drop_index("ix_items_workflow_decided", table_name="items")


def downgrade() -> None:
    op.create_index(
        "ix_items_workflow_decided", "items", ["workflow_id", "decided_at"], unique=False
    )
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
