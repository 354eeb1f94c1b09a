"""The channel Protocol and registry; built-in channels register like third-party ones."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol

GROUP = "signoff.channels"


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


@dataclass(frozen=True)
class ChannelContext:
    """What a channel factory builds a channel from."""

    settings: Any


ChannelFactory = Callable[[ChannelContext], Channel]


class ChannelRegistry:
    """Message kinds to channel factories: entry points, loaded on first use, and registrations.

    Registering a channel adds to the entry-point table, never replaces it: the
    built-in channels stay available whatever a plugin registers first.
    """

    def __init__(self, group: str = GROUP) -> None:
        self._group = group
        self._lock = threading.Lock()
        self._registered: dict[str, ChannelFactory] = {}
        self._declared: dict[str, EntryPoint] | None = None

    def register(self, kind: str, factory: ChannelFactory) -> None:
        with self._lock:
            self._registered[kind] = factory

    def kinds(self) -> list[str]:
        return sorted(set(self._registered) | set(self._entry_points()))

    def factory(self, kind: str) -> ChannelFactory | None:
        with self._lock:
            found = self._registered.get(kind)
        if found is not None:
            return found
        point = self._entry_points().get(kind)
        if point is None:
            return None
        loaded: ChannelFactory = point.load()
        with self._lock:
            return self._registered.setdefault(kind, loaded)

    def _entry_points(self) -> dict[str, EntryPoint]:
        if self._declared is None:
            self._declared = {ep.name: ep for ep in entry_points(group=self._group)}
        return self._declared


# The process-wide registry plugins register into (like the entry-point table itself).
REGISTRY = ChannelRegistry()


def register_channel(kind: str, factory: ChannelFactory) -> None:
    """Make outbox messages of `kind` deliverable by channels `factory` builds."""
    REGISTRY.register(kind, factory)


def channel_kinds() -> list[str]:
    return REGISTRY.kinds()


def create_channel(kind: str, settings: Any) -> Channel | None:
    """A channel for `kind` built from `settings`, or None when no channel handles it."""
    factory = REGISTRY.factory(kind)
    return None if factory is None else factory(ChannelContext(settings))
