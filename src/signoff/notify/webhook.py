"""Signed webhooks per the Standard Webhooks scheme (webhook-id/-timestamp/-signature)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from signoff.notify.base import ChannelContext, Message, SendResult
from signoff.outbound import client as outbound_client
from signoff.outbound import guard


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
    """POSTs each message, signed, through the guarded outbound client."""

    def __init__(self, timeout: float = 10.0, policy: guard.OutboundPolicy | None = None) -> None:
        self.timeout = timeout
        self._client = outbound_client.create_client(
            policy or guard.OutboundPolicy(), timeout=timeout
        )

    def send(self, message: Message) -> SendResult:
        if not message.target or not message.secret:
            return SendResult(False, error="no webhook URL or secret", retryable=False)
        try:
            guard.check_url(message.target, "delivery.webhook_url")
        except guard.OutboundRefused as exc:
            return SendResult(False, error=exc.detail, retryable=False)
        body = json.dumps(message.payload, separators=(",", ":"), sort_keys=True)
        headers = signed_headers(message.secret, message.id, body, datetime.now(UTC))
        try:
            response = self._client.post(message.target, content=body, headers=headers)
        except outbound_client.RefusedConnection as exc:
            return SendResult(False, error=f"refused: {exc}", retryable=False)
        except httpx.TimeoutException:
            return SendResult(False, error=f"timed out after {self.timeout}s")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
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

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def create(context: ChannelContext) -> WebhookChannel:
    """The webhook channel with the delivery timeout and outbound policy of `context.settings`."""
    delivery = getattr(context.settings, "delivery", None)
    return WebhookChannel(
        timeout=float(getattr(delivery, "timeout_seconds", 10.0)),
        policy=outbound_client.policy_from(context.settings),
    )
