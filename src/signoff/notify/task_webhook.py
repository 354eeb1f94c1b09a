"""Task-event webhooks: review events POSTed to the workflow's endpoint, signed like decisions.

The body is the event payload of `services.notifications` without its `actions`
(signed decision links are for people, not for a machine endpoint) and without
the name of the signing secret the rule names (`data.secret_env`); the headers
are the Standard Webhooks ones decision webhooks carry (`notify.webhook` signs).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from signoff.notify import webhook
from signoff.notify.base import ChannelContext, Message, SendResult
from signoff.notify.posting import JsonPoster


def body(payload: dict[str, Any]) -> str:
    """The signed body: the event without action links or the secret's name, as sorted JSON."""
    event = {k: v for k, v in payload.items() if k != "actions"}
    if isinstance(event.get("data"), dict):
        event["data"] = {k: v for k, v in event["data"].items() if k != "secret_env"}
    return json.dumps(event, separators=(",", ":"), sort_keys=True)


class TaskWebhookChannel:
    field = "notify.webhook.url"

    def __init__(self, settings: Any) -> None:
        self.poster = JsonPoster(settings)

    def send(self, message: Message) -> SendResult:
        if not message.target or not message.secret:
            return SendResult(False, error="no webhook URL or secret", retryable=False)
        content = body(message.payload)
        headers = webhook.signed_headers(message.secret, message.id, content, datetime.now(UTC))
        return self.poster.post(message.target, content, self.field, headers)

    def close(self) -> None:
        self.poster.close()


def create(context: ChannelContext) -> TaskWebhookChannel:
    return TaskWebhookChannel(context.settings)
