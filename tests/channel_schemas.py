"""JSON Schemas of what Slack, Teams and PagerDuty accept, written from their documentation.

Slack: Block Kit reference (api.slack.com/reference/block-kit/blocks, /block-elements,
/composition-objects): section text 1-3000 chars, context up to 10 elements, actions
up to 25 elements, button text plain_text up to 75 chars, url up to 3000, action_id
up to 255, style primary|danger, at most 50 blocks. Teams: the Workflows webhook
message envelope with an Adaptive Card (adaptivecards.io schema 1.4+: TextBlock,
FactSet, Action.OpenUrl). PagerDuty Events API v2 (developer.pagerduty.com
/docs/events-api-v2/trigger-events, /resolve-events): routing_key of 32 characters,
event_action trigger|acknowledge|resolve, dedup_key up to 255, payload.summary up to
1024, payload.severity critical|error|warning|info, payload.source required.
A receiver in the tests answers 400 to a body these schemas refuse, as the services do.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs


def _text(kinds: list[str], max_length: int) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "text"],
        "properties": {
            "type": {"enum": kinds},
            "text": {"type": "string", "minLength": 1, "maxLength": max_length},
            "emoji": {"type": "boolean"},
            "verbatim": {"type": "boolean"},
        },
        "additionalProperties": False,
    }


_BUTTON = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {
        "type": {"const": "button"},
        "text": _text(["plain_text"], 75),
        "action_id": {"type": "string", "maxLength": 255},
        "url": {"type": "string", "maxLength": 3000, "pattern": "^https?://"},
        "value": {"type": "string", "maxLength": 2000},
        "style": {"enum": ["primary", "danger"]},
    },
    "additionalProperties": False,
}

SLACK_MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["blocks"],
    "properties": {
        "text": {"type": "string", "maxLength": 40000},
        "blocks": {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["type", "text"],
                        "properties": {
                            "type": {"const": "section"},
                            "text": _text(["mrkdwn", "plain_text"], 3000),
                            "block_id": {"type": "string", "maxLength": 255},
                            "fields": {
                                "type": "array",
                                "maxItems": 10,
                                "items": _text(["mrkdwn", "plain_text"], 2000),
                            },
                        },
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "required": ["type", "elements"],
                        "properties": {
                            "type": {"const": "context"},
                            "elements": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 10,
                                "items": _text(["mrkdwn", "plain_text"], 3000),
                            },
                            "block_id": {"type": "string", "maxLength": 255},
                        },
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "required": ["type", "elements"],
                        "properties": {
                            "type": {"const": "actions"},
                            "elements": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 25,
                                "items": _BUTTON,
                            },
                            "block_id": {"type": "string", "maxLength": 255},
                        },
                        "additionalProperties": False,
                    },
                ]
            },
        },
    },
}

_CARD = {
    "type": "object",
    "required": ["type", "version", "body"],
    "properties": {
        "$schema": {"type": "string"},
        "type": {"const": "AdaptiveCard"},
        "version": {"type": "string", "pattern": r"^1\.[4-6]$"},
        "body": {
            "type": "array",
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["type", "text"],
                        "properties": {
                            "type": {"const": "TextBlock"},
                            "text": {"type": "string"},
                            "weight": {"enum": ["Default", "Lighter", "Bolder"]},
                            "size": {"enum": ["Default", "Small", "Medium", "Large", "ExtraLarge"]},
                            "wrap": {"type": "boolean"},
                        },
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "required": ["type", "facts"],
                        "properties": {
                            "type": {"const": "FactSet"},
                            "facts": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["title", "value"],
                                    "properties": {
                                        "title": {"type": "string"},
                                        "value": {"type": "string"},
                                    },
                                    "additionalProperties": False,
                                },
                            },
                        },
                        "additionalProperties": False,
                    },
                ]
            },
        },
        "actions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "url"],
                "properties": {
                    "type": {"const": "Action.OpenUrl"},
                    "title": {"type": "string"},
                    "url": {"type": "string", "pattern": "^https?://"},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

TEAMS_MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["type", "attachments"],
    "properties": {
        "type": {"const": "message"},
        "attachments": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["contentType", "content"],
                "properties": {
                    "contentType": {"const": "application/vnd.microsoft.card.adaptive"},
                    "contentUrl": {"type": "null"},
                    "content": _CARD,
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

PAGERDUTY_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["routing_key", "event_action"],
    "properties": {
        "routing_key": {"type": "string", "minLength": 32, "maxLength": 32},
        "event_action": {"enum": ["trigger", "acknowledge", "resolve"]},
        "dedup_key": {"type": "string", "maxLength": 255},
        "payload": {
            "type": "object",
            "required": ["summary", "source", "severity"],
            "properties": {
                "summary": {"type": "string", "minLength": 1, "maxLength": 1024},
                "source": {"type": "string", "minLength": 1},
                "severity": {"enum": ["critical", "error", "warning", "info"]},
                "timestamp": {"type": "string"},
                "component": {"type": "string"},
                "group": {"type": "string"},
                "class": {"type": "string"},
                "custom_details": {"type": "object"},
            },
            "additionalProperties": False,
        },
        "images": {"type": "array"},
        "links": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["href"],
                "properties": {"href": {"type": "string"}, "text": {"type": "string"}},
            },
        },
        "client": {"type": "string"},
        "client_url": {"type": "string"},
    },
    "allOf": [
        {
            "if": {"properties": {"event_action": {"const": "trigger"}}},
            "then": {"required": ["payload"]},
            "else": {"required": ["dedup_key"]},
        }
    ],
    "additionalProperties": False,
}


def problems(schema: dict[str, Any], instance: Any) -> list[str]:
    """Why `instance` does not match `schema` (empty: it does)."""
    validator = jsonschema_rs.Draft202012Validator(schema)
    return [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(instance)]
