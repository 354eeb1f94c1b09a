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

  `url` is `<public_url>/ui/items/<id>`. `actions` go only with events on an open
  task (created, assigned, reminder, escalated): in an email, links bound to that
  recipient (a user who may review the workflow); in Slack and Teams, links bound to
  nobody, so whoever follows one signs in first. `data` holds what the caller
  passed plus `rule` (the rule's index in `notify`); for `task.decided` and
  `item.decided` the caller passes the decision's `outcome`, which the payload's
  item shows (the item row may not be updated yet in the caller's transaction).
- An email recipient who chose a digest (services.digests) gets no message of
  their own: the payload waits in `digest_entries` for their next digest.

  PagerDuty uses `"signoff-task-<task id>"` as its dedup_key: `task.timed_out` or
  `task.escalated` triggers, `task.decided` resolves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from signoff.ai import base as ai_base
from signoff.domain.review_ops import NotifyChannel, NotifyEvent, NotifyRule
from signoff.domain.states import Role, TaskStatus
from signoff.domain.workflow import WorkflowSpec
from signoff.services import action_links
from signoff.services.context import Context
from signoff.storage import groups, items, notifications, state, tasks, users, workflows

#: Events on which a message may carry action links (the task is still open).
LINK_EVENTS = frozenset(
    {
        NotifyEvent.TASK_CREATED,
        NotifyEvent.TASK_ASSIGNED,
        NotifyEvent.TASK_REMINDER,
        NotifyEvent.TASK_ESCALATED,
    }
)
SUMMARY_CHARS = 200
#: Most recipients one email rule reaches (a group is bounded the same way).
MAX_RECIPIENTS = 500


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
    rules = [(index, rule) for index, rule in enumerate(spec.notify) if event in rule.on]
    if not rules:
        return []
    item = items.read_item(session, item_id)
    if item is None:
        return []
    task = tasks.read_task(session, task_id) if task_id is not None else None
    assignee = (
        users.read_user(session, task.assignee_id)
        if task is not None and task.assignee_id is not None
        else None
    )
    base = _payload(ctx, spec, event, item, task, assignee, now, data or {})
    workflow = workflows.read_workflow_by_id(session, workflow_id)
    org_id = workflow.org_id if workflow is not None else None
    linkable = (
        event in LINK_EVENTS
        and task is not None
        and task.status in (TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value)
        # A decision from a link would take the AI's label unseen: blind items are decided
        # on their page.
        and not item.blind
    )
    messages: list[state.OutboxMessage] = []
    digests: list[dict[str, Any]] = []
    for index, rule in rules:
        if item.gold_label is not None and rule.channel is NotifyChannel.WEBHOOK:
            continue  # a task-event webhook may be the application's: gold never reaches it
        payload = {**base, "data": {**base["data"], "rule": index}}
        if rule.channel is NotifyChannel.EMAIL:
            people = _recipients(session, spec, rule, assignee, org_id)
            waiting = notifications.list_digest_minutes(
                session, [p.id for _, p in people if p is not None]
            )
            for address, person in people:
                personal = dict(payload)
                if linkable and person is not None and _may_review(person, spec, org_id):
                    personal["actions"] = _actions(
                        session, ctx, spec, task, person.id, "email", now
                    )
                message = state.OutboxMessage(
                    kind=f"notify.{rule.channel.value}",
                    payload=personal,
                    target=address,
                    workflow_id=workflow_id,
                )
                if person is not None and person.id in waiting:
                    digests.append(
                        {
                            "user_id": person.id,
                            "item_id": item_id,
                            "workflow_id": workflow_id,
                            "payload": personal,
                            "created_at": now,
                        }
                    )
                else:
                    messages.append(message)
            continue
        if rule.channel in (NotifyChannel.SLACK, NotifyChannel.TEAMS) and linkable:
            payload["actions"] = _actions(session, ctx, spec, task, None, rule.channel.value, now)
        if rule.channel is NotifyChannel.WEBHOOK and rule.secret_env:
            payload["data"]["secret_env"] = rule.secret_env
        messages.append(
            state.OutboxMessage(
                kind=f"notify.{rule.channel.value}",
                payload=payload,
                target=_target(rule),
                workflow_id=workflow_id,
            )
        )
    notifications.create_digest_entries(session, digests)
    return messages


def _target(rule: NotifyRule) -> str | None:
    """The credential name (slack, teams, pagerduty) or URL (webhook) a channel sends to."""
    if rule.channel in (NotifyChannel.SLACK, NotifyChannel.TEAMS):
        return rule.webhook_url_env
    if rule.channel is NotifyChannel.PAGERDUTY:
        return rule.routing_key_env
    return rule.url


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _payload(
    ctx: Context,
    spec: WorkflowSpec,
    event: NotifyEvent,
    item: Any,
    task: Any | None,
    assignee: Any | None,
    now: datetime,
    data: dict[str, Any],
) -> dict[str, Any]:
    outcome = item.outcome
    item_state = item.state
    decided = event in (NotifyEvent.ITEM_DECIDED, NotifyEvent.TASK_DECIDED)
    if decided and isinstance(data.get("outcome"), str):
        outcome = data["outcome"]
        item_state = spec.final_state_for(outcome)
    text = ai_base.text_of(item.content or {}, spec.ai.text_field)
    task_part = None
    if task is not None:
        task_part = {
            "id": task.id,
            "status": task.status,
            "assignee": assignee.email if assignee is not None else None,
            "group": task.group_name,
            "due_at": _iso(task.due_at),
            "created_at": _iso(task.created_at),
        }
    return {
        "type": event.value,
        "occurred_at": now.isoformat(),
        "workflow": spec.name,
        "task": task_part,
        "item": {
            "id": item.id,
            "external_id": item.external_id,
            "summary": text[:SUMMARY_CHARS],
            # A blind item's reviewers are told nothing of the AI's answer.
            "label": None if getattr(item, "blind", False) else item.ai_label,
            "confidence": None if getattr(item, "blind", False) else item.confidence,
            "state": item_state,
            "outcome": outcome,
        },
        "url": f"{ctx.settings.public_url.rstrip('/')}/ui/items/{item.id}",
        "actions": {},
        "data": dict(data),
    }


def _recipients(
    session: Session, spec: WorkflowSpec, rule: NotifyRule, assignee: Any | None, org_id: int | None
) -> list[tuple[str, Any | None]]:
    """(address, user row or None) for an email rule's `to`, each address once.

    A group's members of another org (a workflow naming that org's group) are left out.
    """
    to = rule.to or ""
    found: list[tuple[str, Any | None]] = []
    if to == "assignee":
        if assignee is not None and assignee.active:
            found.append((assignee.email, assignee))
    elif to == "escalate_to" or to.startswith("group:"):
        name = spec.review.sla.escalate_to if to == "escalate_to" else to.removeprefix("group:")
        if name:
            members = [m for m in groups.list_members(session, name) if m.org_id in (None, org_id)]
            for member in members[:MAX_RECIPIENTS]:
                found.append((member.email, users.read_user(session, member.user_id)))
    else:
        user = users.read_user_by_email(session, to)
        found.append((to, user if user is not None and user.active else None))
    unique: dict[str, tuple[str, Any | None]] = {}
    for address, person in found:
        unique.setdefault(address.lower(), (address, person))
    return list(unique.values())


def _may_review(user: Any, spec: WorkflowSpec, org_id: int | None) -> bool:
    return bool(
        user.active
        and user.role in (Role.REVIEWER.value, Role.ADMIN.value)
        and (user.workflows is None or spec.name in user.workflows)
        and user.org_id in (None, org_id)
    )


def _actions(
    session: Session,
    ctx: Context,
    spec: WorkflowSpec,
    task: Any,
    user_id: int | None,
    channel: str,
    now: datetime,
) -> dict[str, str]:
    """One link per outcome; they share one token, so using one spends them all."""
    token = action_links.issue_link(
        session,
        ctx,
        task_id=task.id,
        item_id=task.item_id,
        user_id=user_id,
        channel=channel,
        now=now,
    )
    return {outcome: action_links.link_url(ctx, token, outcome) for outcome in spec.review.outcomes}
