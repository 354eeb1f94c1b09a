"""The one clock: leases and SLAs compare against it, tests can move it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """This machine's clock, shifted by `skew` (a test's stand-in for a wrong clock)."""

    def __init__(self, skew: timedelta = timedelta(0)) -> None:
        self.skew = skew

    def now(self) -> datetime:
        return datetime.now(UTC) + self.skew


class DatabaseClock:
    """This machine's clock corrected to the database server's, so only one clock counts.

    Leases, holds and SLA timers written by several processes compare times each of
    them read; a worker whose clock runs minutes ahead would take over leases that are
    still live. The offset to `reference` (the database's time) is measured on first use
    and again every `refresh_seconds`, halving the round trip; while the database cannot
    answer, the last offset stands.
    """

    def __init__(
        self,
        local: Clock,
        reference: Callable[[], datetime],
        refresh_seconds: float = 30.0,
    ) -> None:
        self._local = local
        self._reference = reference
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._measured_at: float | None = None

    @property
    def offset(self) -> timedelta:
        """What is added to this machine's time (after the latest measurement)."""
        self.now()
        with self._lock:
            return self._offset

    def now(self) -> datetime:
        due = self._measured_at is None or time.monotonic() - self._measured_at > self._refresh
        if due:
            self._measure()
        with self._lock:
            return self._local.now() + self._offset

    def _measure(self) -> None:
        before = self._local.now()
        try:
            remote = self._reference()
        except Exception:  # noqa: BLE001 - an outage keeps the last offset; callers see it
            with self._lock:
                self._measured_at = time.monotonic() - self._refresh / 2  # retry soon
            return
        after = self._local.now()
        with self._lock:
            self._offset = remote - (before + (after - before) / 2)
            self._measured_at = time.monotonic()


class FrozenClock:
    """A clock tests set and advance by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now
