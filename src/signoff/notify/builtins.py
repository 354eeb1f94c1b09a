"""Registers the channels that ship with signoff."""

from __future__ import annotations

from signoff.notify import base, webhook

base.register_channel("webhook", webhook.WebhookChannel())
