"""The guarded HTTP client every outbound call uses.

Its network backend resolves the host itself, checks every address against the
outbound policy, and connects to an address it checked, so a name that resolves to
a public address for the check and to a private one for the connection (DNS
rebinding) still cannot reach the private one. It follows no redirects and ignores
proxy environment variables (a proxy would connect on its own terms).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from signoff.outbound import guard


class RefusedConnection(httpx.ConnectError):
    """The guard refused every address of the destination host."""


class GuardedBackend(httpcore.SyncBackend):
    """A socket backend that only connects to addresses the policy allows."""

    def __init__(self, policy: guard.OutboundPolicy) -> None:
        self._policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = guard.resolve(host, port)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        allowed = [
            a
            for a in addresses
            if self._policy.host_allowed(host) or self._policy.address_allowed(a)
        ]
        if not allowed:
            raise RefusedConnection(guard.refusal_reason(host, addresses[0]))
        last: Exception | None = None
        for address in allowed:
            try:
                return super().connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose connections go through GuardedBackend."""

    def __init__(self, policy: guard.OutboundPolicy, **kwargs: Any) -> None:
        super().__init__(trust_env=False, **kwargs)
        limits = kwargs.get(
            "limits", httpx.Limits(max_connections=100, max_keepalive_connections=20)
        )
        # httpx has no public way to pass a network backend; rebuild its pool with one.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )


def policy_from(settings: Any) -> guard.OutboundPolicy:
    """The policy in `settings.outbound.allow` (an empty policy without settings)."""
    outbound = getattr(settings, "outbound", None)
    return guard.OutboundPolicy.parse(getattr(outbound, "allow", "") or "")


def create_client(
    policy: guard.OutboundPolicy,
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
) -> httpx.Client:
    """An httpx.Client that checks every connection and never follows a redirect."""
    return httpx.Client(
        transport=GuardedTransport(policy),
        timeout=timeout,
        headers=headers,
        follow_redirects=False,
        trust_env=False,
    )
