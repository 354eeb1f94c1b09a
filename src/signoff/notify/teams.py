"""Microsoft Teams: an Adaptive Card (1.4) posted to a Teams Workflows webhook.

The body is the message shape Workflows' "post to a channel when a webhook request
is received" expects: `{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard>}]}`. The
target is the NAME of the credential holding the webhook URL, resolved at send time.
"""

from __future__ import annotations

import re
from typing import Any

from signoff.notify import event_text
from signoff.notify.base import ChannelContext
from signoff.notify.posting import CredentialUrlChannel

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"
SUMMARY_TEXT = 2000
MAX_ACTIONS = 6  # what Teams shows; more are dropped by the client anyway
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!>|~])")


def escape(text: str) -> str:
    """Markdown punctuation backslash-escaped: item text cannot add links or formatting."""
    return _MARKDOWN.sub(r"\\\1", text)


def card(payload: dict[str, Any]) -> dict[str, Any]:
    """The Adaptive Card for one event: title, summary, facts, and link actions."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": escape(event_text.title(payload)),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        }
    ]
    summary = event_text.summary(payload)
    if summary:
        body.append(
            {
                "type": "TextBlock",
                "text": escape(event_text.clip(summary, SUMMARY_TEXT)),
                "wrap": True,
            }
        )
    body.append(
        {
            "type": "FactSet",
            "facts": [
                {"title": name, "value": escape(value)} for name, value in event_text.facts(payload)
            ],
        }
    )
    actions = [
        {"type": "Action.OpenUrl", "title": label, "url": url}
        for label, url in event_text.links(payload)[:MAX_ACTIONS]
    ]
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if actions:
        content["actions"] = actions
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": content}],
    }


def create(context: ChannelContext) -> CredentialUrlChannel:
    return CredentialUrlChannel(context.settings, "notify.teams.webhook_url_env", card)
