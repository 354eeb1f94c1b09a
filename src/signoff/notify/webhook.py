"""Signed webhooks per the Standard Webhooks scheme (webhook-id/-timestamp/-signature)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from signoff.notify.base import Message, SendResult


def derive_secret(secret_key: str, purpose: str = "webhook") -> str:
    """A whsec_ secret derived from the server's secret key, stable across restarts."""
    raw = hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(raw).decode()


def signed_headers(secret: str, message_id: str, body: str, now: datetime) -> dict[str, str]:
    signature = Webhook(secret).sign(message_id, now, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": "signoff-webhooks",
    }


class WebhookChannel:
    def __init__(self, timeout: float = 10.0) -> None:
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def send(self, message: Message) -> SendResult:
        if not message.target or not message.secret:
            return SendResult(False, error="no webhook URL or secret", retryable=False)
        body = json.dumps(message.payload, separators=(",", ":"), sort_keys=True)
        headers = signed_headers(message.secret, message.id, body, datetime.now(UTC))
        try:
            response = self._client.post(message.target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return SendResult(False, error=f"{type(exc).__name__}: {exc}")
        if 200 <= response.status_code < 300:
            return SendResult(True, status_code=response.status_code)
        retry_after = response.headers.get("retry-after")
        return SendResult(
            False,
            status_code=response.status_code,
            error=f"HTTP {response.status_code}",
            # Receivers answer 410 Gone to say "stop sending"; everything else is retried.
            retryable=response.status_code != 410,
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
        )
