"""The channel Protocol and registry; built-in channels register like third-party ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    """One outbox message as a channel sees it."""

    id: str
    kind: str
    target: str | None
    payload: dict[str, Any]
    secret: str | None = None


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    retryable: bool = True
    retry_after: float | None = None


class Channel(Protocol):
    """Sends one message; never raises for a delivery failure, returns SendResult."""

    def send(self, message: Message) -> SendResult: ...


_REGISTRY: dict[str, Channel] = {}


def register_channel(kind: str, channel: Channel) -> None:
    _REGISTRY[kind] = channel


def get_channel(kind: str) -> Channel | None:
    if not _REGISTRY:
        from signoff.notify import builtins  # noqa: F401

    return _REGISTRY.get(kind)
