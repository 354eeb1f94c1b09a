"""Typed rows: what storage's reads return, one Protocol per table, an attribute per column.

SQLAlchemy rows are read by attribute; these Protocols give each attribute its type
(None where the column is nullable), so mypy checks what services do with a row.
`tests/unit/test_rows.py` keeps them equal to the tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol


class OrgRow(Protocol):
    """A row of `orgs`."""

    id: int
    name: str
    display_name: str | None
    items_per_day: int | None
    open_tasks: int | None
    requests_per_minute: int | None
    created_at: datetime


class WorkflowRow(Protocol):
    """A row of `workflows`."""

    id: int
    name: str
    org_id: int
    current_version: int
    created_at: datetime
    updated_at: datetime
    paused_mode: str | None
    paused_reason: str | None
    paused_by: str | None
    paused_at: datetime | None


class WorkflowVersionRow(Protocol):
    """A row of `workflow_versions`."""

    id: int
    workflow_id: int
    version: int
    spec: Any
    source: str
    created_by: str | None
    created_at: datetime


class UserRow(Protocol):
    """A row of `users`."""

    id: int
    email: str
    role: str
    display_name: str | None
    password_hash: str | None
    workflows: Any
    active: bool
    org_id: int | None
    created_at: datetime


class ApiKeyRow(Protocol):
    """A row of `api_keys`."""

    id: int
    name: str
    user_id: int | None
    prefix: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    expires_at: datetime | None
    rotated_from: int | None
    scopes: Any
    workflows: Any
    org_id: int | None


class ItemRow(Protocol):
    """A row of `items`."""

    id: int
    workflow_id: int
    workflow_version: int
    external_id: str | None
    content: Any
    metadata: Any
    state: str
    idempotency_key: str | None
    request_hash: str | None
    created_at: datetime
    updated_at: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    attempts: int
    ai_label: str | None
    confidence: float | None
    prediction: Any
    route: str | None
    route_reasons: Any
    threshold: float | None
    qa_sample: bool
    routed_at: datetime | None
    outcome: str | None
    final_label: str | None
    final_entities: Any
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    override: bool | None
    final_labels: Any
    final_fields: Any
    audit_seq: int
    audit_hash: str
    content_hash: str | None
    content_purged_at: datetime | None
    legal_hold_at: datetime | None
    legal_hold_by: str | None
    blind: bool
    gold_label: str | None


class TaskRow(Protocol):
    """A row of `review_tasks`."""

    id: int
    item_id: int
    workflow_id: int
    status: str
    assignee_id: int | None
    created_at: datetime
    assigned_at: datetime | None
    due_at: datetime | None
    decided_at: datetime | None
    outcome: str | None
    labels: Any
    entities: Any
    comment: str | None
    time_on_task_ms: int | None
    escalated: bool
    group_name: str | None
    reminded_at: datetime | None
    escalated_at: datetime | None
    timed_out_at: datetime | None
    first_touched_at: datetime | None
    touched_at: datetime | None
    hold_expires_at: datetime | None
    fields: Any
    priority: float | None
    learn_until: datetime | None
    kind: str | None


class GroupRow(Protocol):
    """A row of `reviewer_groups`."""

    id: int
    name: str
    org_id: int
    description: str | None
    created_at: datetime
