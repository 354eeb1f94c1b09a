"""PagerDuty Events API v2: page on an escalation or timeout, resolve when the task is decided.

One alert per review task (`dedup_key` `signoff-task-<id>`): `task.escalated` and
`task.timed_out` trigger it (PagerDuty folds a repeated trigger into the open
alert), `task.decided` and `item.decided` resolve it; other task events trigger
at `info` severity. The target is the NAME of the credential holding the
integration's routing key; the endpoint is `pagerduty.events_url`.
"""

from __future__ import annotations

from typing import Any

from signoff.notify import event_text
from signoff.notify.base import ChannelContext, Message, SendResult
from signoff.notify.posting import JsonPoster
from signoff.outbound import credentials, guard

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
RESOLVES = frozenset({"task.decided", "item.decided"})
SEVERITY = {"task.timed_out": "error", "task.escalated": "warning"}
SUMMARY_LIMIT = 1024  # payload.summary's documented maximum


def dedup_key(payload: dict[str, Any]) -> str | None:
    """`signoff-task-<id>`, or None when the event names no task."""
    task = payload.get("task")
    task_id = task.get("id") if isinstance(task, dict) else None
    return f"signoff-task-{task_id}" if task_id is not None else None


def event(payload: dict[str, Any], routing_key: str) -> dict[str, Any] | None:
    """The Events API v2 body for one review event (None: nothing to resolve)."""
    key = dedup_key(payload)
    kind = str(payload.get("type") or "")
    if kind in RESOLVES:
        if key is None:
            return None
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": key}
    summary = event_text.title(payload)
    if event_text.summary(payload):
        summary += f": {event_text.summary(payload)}"
    workflow = str(payload.get("workflow") or "signoff")
    task = payload["task"] if isinstance(payload.get("task"), dict) else {}
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {
            "summary": event_text.clip(summary, SUMMARY_LIMIT),
            "source": f"signoff/{workflow}",
            "severity": SEVERITY.get(kind, "info"),
            "component": workflow,
            "class": kind or "review",
            "custom_details": dict(event_text.facts(payload)),
        },
        "client": "signoff",
    }
    if payload.get("occurred_at"):
        body["payload"]["timestamp"] = payload["occurred_at"]
    if task.get("group"):
        body["payload"]["group"] = task["group"]
    if key is not None:
        body["dedup_key"] = key
    if isinstance(payload.get("url"), str) and payload["url"]:
        body["client_url"] = payload["url"]
        body["links"] = [{"href": payload["url"], "text": event_text.item_name(payload)}]
    return body


class PagerDutyChannel:
    """Enqueues one Events API v2 event per message."""

    field = "notify.pagerduty.routing_key_env"

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        pagerduty = getattr(settings, "pagerduty", None)
        self.url = str(getattr(pagerduty, "events_url", DEFAULT_URL))
        self.poster = JsonPoster(settings)

    def send(self, message: Message) -> SendResult:
        if not message.target:
            return SendResult(
                False, error="no credential named for the routing key", retryable=False
            )
        try:
            host = guard.check_url(self.url, "pagerduty.events_url")
            key = credentials.read_credential(self.settings, message.target, self.field, host=host)
        except guard.OutboundRefused as exc:
            return SendResult(False, error=exc.detail, retryable=False)
        if key is None:
            return SendResult(False, error=f"credential {message.target} is not set")
        body = event(message.payload, key)
        if body is None:
            return SendResult(True, error="no task to resolve")
        return self.poster.post(self.url, body, "pagerduty.events_url")

    def close(self) -> None:
        self.poster.close()


def create(context: ChannelContext) -> PagerDutyChannel:
    return PagerDutyChannel(context.settings)
