"""Slack incoming webhooks: a Block Kit message with the item summary and buttons.

The outbox target is the NAME of the credential holding the webhook URL, resolved
at send time (so no secret is stored in the outbox) and checked like every
outbound URL. Item text is escaped for mrkdwn, so an item cannot mention
`@channel` or forge a link.
"""

from __future__ import annotations

from typing import Any

from signoff.notify import event_text
from signoff.notify.base import ChannelContext
from signoff.notify.posting import CredentialUrlChannel

# Block Kit limits (api.slack.com/reference/block-kit).
SECTION_TEXT = 3000
CONTEXT_TEXT = 2000
BUTTON_TEXT = 75
BUTTON_URL = 3000
MAX_BUTTONS = 25
FALLBACK_TEXT = 3000


def escape(text: str) -> str:
    """Slack's three control characters as entities: no mentions or links from item text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks(payload: dict[str, Any]) -> dict[str, Any]:
    """The message body: fallback text, a section, a context line and link buttons."""
    heading = escape(event_text.title(payload))
    summary = escape(event_text.summary(payload))
    text = f"*{heading}*" + (f"\n{summary}" if summary else "")
    context = " · ".join(f"{name}: {escape(value)}" for name, value in event_text.facts(payload))
    body: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": event_text.clip(text, SECTION_TEXT)},
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": event_text.clip(context, CONTEXT_TEXT)}],
        },
    ]
    buttons = []
    for index, (label, url) in enumerate(event_text.links(payload)[:MAX_BUTTONS]):
        if len(url) > BUTTON_URL:
            continue
        button: dict[str, Any] = {
            "type": "button",
            "action_id": f"signoff-{index}",
            "text": {"type": "plain_text", "text": event_text.clip(label, BUTTON_TEXT)},
            "url": url,
        }
        if index == 0:
            button["style"] = "primary"
        buttons.append(button)
    if buttons:
        body.append({"type": "actions", "elements": buttons})
    fallback = event_text.title(payload) + (f": {event_text.summary(payload)}" if summary else "")
    return {"text": escape(event_text.clip(fallback, FALLBACK_TEXT)), "blocks": body}


def create(context: ChannelContext) -> CredentialUrlChannel:
    return CredentialUrlChannel(context.settings, "notify.slack.webhook_url_env", blocks)
