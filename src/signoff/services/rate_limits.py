"""Request rate limits per API key, counted by the `limits` library (per process or shared)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute, storage, strategies


class RequestLimiter:
    """A moving one-minute window per key, in the storage the settings name.

    `memory://` counts in this process (each `serve` process allows the full rate);
    a shared storage such as `redis://` makes the limit hold across processes.
    """

    def __init__(self, storage_uri: str) -> None:
        self._limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(storage_uri))

    def take(self, key_id: int, per_minute: int) -> float | None:
        """Count one request of `key_id`: None if allowed, else seconds until one is."""
        if per_minute <= 0:
            return None
        item = RateLimitItemPerMinute(per_minute)
        if self._limiter.hit(item, "key", str(key_id)):
            return None
        reset = self._limiter.get_window_stats(item, "key", str(key_id)).reset_time
        return max(1.0, math.ceil(reset - time.time()))
