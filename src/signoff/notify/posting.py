"""POST a JSON body through the guarded client and turn the answer into a SendResult."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from signoff.notify.base import Message, SendResult
from signoff.outbound import client as outbound_client
from signoff.outbound import credentials, guard

#: Answers a receiver gives to say "this will never work": stop retrying.
PERMANENT = frozenset({400, 401, 403, 404, 410, 413, 422})


class JsonPoster:
    """One guarded connection pool that posts JSON and never raises for a delivery failure."""

    def __init__(self, settings: Any, *, timeout: float | None = None) -> None:
        delivery = getattr(settings, "delivery", None)
        self.timeout = float(timeout or getattr(delivery, "timeout_seconds", None) or 10.0)
        self._client = outbound_client.create_client(
            outbound_client.policy_from(settings), timeout=self.timeout
        )

    def post(
        self, url: str, body: Any, field: str, headers: dict[str, str] | None = None
    ) -> SendResult:
        """POST `body` (a str is sent as is, anything else as JSON) to `url`."""
        try:
            guard.check_url(url, field)
        except guard.OutboundRefused as exc:
            return SendResult(False, error=exc.detail, retryable=False)
        content = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
        sent = {"content-type": "application/json", "user-agent": "signoff-notify"}
        sent.update(headers or {})
        try:
            response = self._client.post(url, content=content, headers=sent)
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
            error=f"HTTP {response.status_code}: {response.text[:200]}",
            retryable=response.status_code not in PERMANENT,
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
        )

    def close(self) -> None:
        self._client.close()


def credential_host(url: str) -> str | None:
    """The host of a URL kept as a credential (what a host-bound credential is checked for)."""
    try:
        return httpx.URL(url).host or None
    except (httpx.InvalidURL, TypeError):
        return None


def resolve_url(settings: Any, name: str | None, field: str) -> str | SendResult:
    """The webhook URL the credential `name` holds, or why the message cannot be sent."""
    if not name:
        return SendResult(False, error="no credential named for the webhook URL", retryable=False)
    try:
        url = credentials.read_credential(settings, name, field, host_of=credential_host)
    except guard.OutboundRefused as exc:
        return SendResult(False, error=exc.detail, retryable=False)
    if url is None:
        # Unset now; the operator may still set it, so retry within the delivery window.
        return SendResult(False, error=f"credential {name} is not set")
    return url


class CredentialUrlChannel:
    """Posts each message, as `render` shapes it, to the URL its target credential holds.

    Chat webhooks (Slack, Teams) carry their secret in the URL itself, so the outbox
    stores only the credential's name and the URL is read at send time.
    """

    def __init__(
        self, settings: Any, field: str, render: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> None:
        self.settings = settings
        self.field = field
        self.render = render
        self.poster = JsonPoster(settings)

    def send(self, message: Message) -> SendResult:
        url = resolve_url(self.settings, message.target, self.field)
        if isinstance(url, SendResult):
            return url
        return self.poster.post(url, self.render(message.payload), self.field)

    def close(self) -> None:
        self.poster.close()
