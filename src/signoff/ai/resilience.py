"""Client-side rate limiting, circuit breaking and error classification for network providers.

Providers never retry: the engine does, with backoff. What providers owe it is an
honest `ProviderError(retryable, retry_after)` and not hammering a struggling or
rate-limiting service from the several threads that share one provider instance.
"""

from __future__ import annotations

import email.utils
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from signoff.domain import errors

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], None]

# Statuses a later identical request may well succeed on; 429 is handled on its own.
_TRANSIENT_STATUSES = frozenset({408, 409, 425})
_DETAIL_LIMIT = 200


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value (delay-seconds or HTTP-date), else None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = time.time() if now is None else now
    return max(0.0, when.timestamp() - reference)


def retry_after_from_headers(
    headers: Mapping[str, str], *, now: float | None = None
) -> float | None:
    """The server's requested delay: OpenAI's `retry-after-ms` first, then `Retry-After`."""
    lowered = {key.lower(): value for key, value in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        parsed = parse_retry_after(millis)
        if parsed is not None:
            return parsed / 1000.0
    return parse_retry_after(lowered.get("retry-after"), now=now)


def error_for_status(
    status: int, headers: Mapping[str, str], body: Any, source: str
) -> errors.ProviderError:
    """Classify an HTTP error answer: 429/5xx/408 retryable, quota exhaustion and other 4xx not."""
    error = body.get("error", body) if isinstance(body, dict) else None
    code = type_ = message = None
    if isinstance(error, dict):
        code, type_, message = error.get("code"), error.get("type"), error.get("message")
    suffix = f": {str(message)[:_DETAIL_LIMIT]}" if message else ""
    retry_after = retry_after_from_headers(headers)
    if status == 429:
        if "insufficient_quota" in (code, type_):
            # A spend limit does not lift by waiting a few seconds: send the item to a person.
            return errors.ProviderError(
                f"{source}: quota exhausted (insufficient_quota){suffix}", retryable=False
            )
        return errors.ProviderError(
            f"{source}: rate limited (HTTP 429){suffix}", retryable=True, retry_after=retry_after
        )
    if status >= 500 or status in _TRANSIENT_STATUSES:
        return errors.ProviderError(
            f"{source}: HTTP {status}{suffix}", retryable=True, retry_after=retry_after
        )
    return errors.ProviderError(f"{source}: HTTP {status}{suffix}", retryable=False)


class _Bucket:
    """One token bucket; its level may go negative to queue reservations in order."""

    def __init__(self, per_minute: float, capacity: float | None, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, per_minute if capacity is None else capacity)
        self.level = self.capacity
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def cost(self, amount: float) -> float:
        # A request larger than the bucket could never fit: let it through on a full bucket.
        return min(amount, self.capacity)

    def wait_for(self, amount: float) -> float:
        deficit = self.cost(amount) - self.level
        return max(0.0, deficit / self.rate)


class RateLimiter:
    """Thread-safe token buckets for requests and tokens per minute; `acquire` blocks."""

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        max_wait: float = 30.0,
        request_burst: float | None = None,
        token_burst: float | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        now = clock()
        self._requests = (
            _Bucket(requests_per_minute, request_burst, now) if requests_per_minute else None
        )
        self._tokens = _Bucket(tokens_per_minute, token_burst, now) if tokens_per_minute else None
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._not_before = now

    def acquire(self, tokens: float = 0, *, max_wait: float | None = None) -> float:
        """Reserve one request and `tokens`, sleep until they are available, return the wait.

        Raises a retryable ProviderError instead of waiting longer than `max_wait`,
        so a worker thread is never parked for minutes; the engine's backoff takes over.
        """
        limit = self.max_wait if max_wait is None else max_wait
        with self._lock:
            now = self._clock()
            deferred = self._not_before - now
            if deferred > 0:
                # The server asked everyone to hold back: say so at once and let the
                # engine weigh the wait against the item's retry budget, rather than
                # parking each item's call in turn for the whole Retry-After.
                raise errors.ProviderError(
                    f"the server asked to wait {deferred:.1f}s (Retry-After)",
                    retryable=True,
                    retry_after=deferred,
                )
            wait = 0.0
            for bucket, amount in self._charges(tokens):
                bucket.refill(now)
                wait = max(wait, bucket.wait_for(amount))
            if wait > limit:
                raise errors.ProviderError(
                    f"client-side rate limit: next slot in {wait:.1f}s",
                    retryable=True,
                    retry_after=wait,
                )
            # Reserving now (level may go negative) queues concurrent callers fairly.
            for bucket, amount in self._charges(tokens):
                bucket.level -= bucket.cost(amount)
        if wait > 0:
            self._sleep(wait)
        return wait

    def record_tokens(self, estimated: float, actual: float) -> None:
        """Correct the token bucket once the real usage of a request is known."""
        if self._tokens is None:
            return
        with self._lock:
            self._tokens.refill(self._clock())
            self._tokens.level = min(self._tokens.capacity, self._tokens.level + estimated - actual)

    def defer(self, seconds: float) -> None:
        """Refuse every caller for `seconds` (`acquire` raises), as a server's Retry-After asks."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + max(0.0, seconds))

    def _charges(self, tokens: float) -> list[tuple[_Bucket, float]]:
        charges: list[tuple[_Bucket, float]] = []
        if self._requests is not None:
            charges.append((self._requests, 1.0))
        if self._tokens is not None and tokens > 0:
            charges.append((self._tokens, float(tokens)))
        return charges


class CircuitBreaker:
    """Opens after N consecutive failures; after a cooldown admits one trial call (half-open)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    def __init__(
        self,
        failures: int = 5,
        cooldown_seconds: float = 30.0,
        *,
        name: str = "provider",
        clock: Clock = time.monotonic,
    ) -> None:
        if failures < 1:
            raise ValueError("failures must be at least 1")
        self.failures = failures
        self.cooldown_seconds = cooldown_seconds
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probe_started: float | None = None

    @property
    def state(self) -> str:
        """`closed`, `open` or `half_open`, as of now."""
        with self._lock:
            if self._opened_at is None:
                return self.CLOSED
            if self._clock() - self._opened_at < self.cooldown_seconds:
                return self.OPEN
            return self.HALF_OPEN

    def check(self) -> None:
        """Raise CircuitOpen while open, without claiming the half-open trial.

        The engine does not wait out the cool-down per item: an open circuit sends
        the item to a person at once instead of sleeping item after item.
        """
        with self._lock:
            self._raise_if_open(self._clock())

    def before_call(self) -> None:
        """Admit a call or raise a retryable ProviderError; in half-open admits one trial call."""
        with self._lock:
            now = self._clock()
            self._raise_if_open(now)
            if self._opened_at is None:
                return
            # A trial that never reported (its thread died) must not block the breaker forever.
            if (
                self._probe_started is not None
                and now - self._probe_started < self.cooldown_seconds
            ):
                raise errors.CircuitOpen(
                    f"{self.name}: circuit half-open, a trial call is in flight",
                    retryable=True,
                    retry_after=1.0,
                )
            self._probe_started = now

    def record_success(self) -> None:
        """The service answered: close the circuit."""
        with self._lock:
            if self._opened_at is not None:
                log.info("action=circuit_closed provider=%s", self.name)
            self._consecutive = 0
            self._opened_at = None
            self._probe_started = None

    def record_failure(self) -> None:
        """The service failed transiently: count it, and open the circuit at the threshold."""
        with self._lock:
            self._consecutive += 1
            if self._opened_at is not None or self._consecutive >= self.failures:
                self._opened_at = self._clock()
                self._probe_started = None
                log.warning(
                    "action=circuit_opened provider=%s consecutive_failures=%d cooldown_s=%.1f",
                    self.name,
                    self._consecutive,
                    self.cooldown_seconds,
                )

    def call(self, func: Callable[[], T]) -> T:
        """Run `func` under the breaker: retryable ProviderErrors and crashes count as failures.

        A non-retryable ProviderError (400, bad output) means the service is up and
        answering, so it counts as a success for the circuit.
        """
        self.before_call()
        try:
            result = func()
        except errors.ProviderError as exc:
            if exc.retryable:
                self.record_failure()
            else:
                self.record_success()
            raise
        except BaseException:
            self.record_failure()
            raise
        self.record_success()
        return result

    def _raise_if_open(self, now: float) -> None:
        if self._opened_at is None:
            return
        remaining = self._opened_at + self.cooldown_seconds - now
        if remaining > 0:
            raise errors.CircuitOpen(
                f"{self.name}: circuit open after {self._consecutive} consecutive failures",
                retryable=True,
                retry_after=remaining,
            )


class ResilienceOptions(BaseModel):
    """The `ai.options` every network provider accepts for rate limiting and circuit breaking."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    requests_per_minute: float | None = Field(default=None, gt=0, le=1_000_000)
    rate_limit_wait_seconds: float = Field(default=30.0, ge=0, le=600)
    circuit_failures: int = Field(default=5, ge=1, le=1000)
    circuit_cooldown_seconds: float = Field(default=30.0, gt=0, le=3600)

    def circuit_breaker(self, name: str) -> CircuitBreaker:
        return CircuitBreaker(self.circuit_failures, self.circuit_cooldown_seconds, name=name)


OptionsT = TypeVar("OptionsT", bound=BaseModel)


def parse_options(
    model: type[OptionsT],
    options: Mapping[str, Any],
    provider: str,
    *,
    secret_keys: Mapping[str, str],
) -> OptionsT:
    """Validate `ai.options` into `model`; InvalidWorkflow names the `ai.options.<field>` at fault.

    `secret_keys` maps option names that would put a credential in the workflow file
    to the advice given instead, so a pasted key is refused with a clear message.
    """
    for key, advice in secret_keys.items():
        if key in options:
            raise errors.InvalidWorkflow(
                f"ai.options.{key}: credentials must not be written in a workflow "
                f"(provider {provider}); {advice}",
                problems=[{"field": f"ai.options.{key}", "message": "credentials not allowed"}],
            )
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        problems = [
            {
                "field": "ai.options." + (".".join(str(p) for p in e["loc"]) or "(root)"),
                "message": e["msg"],
            }
            for e in exc.errors()
        ]
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise errors.InvalidWorkflow(
            f"invalid options for provider {provider}: {summary}",
            field=problems[0]["field"],
            problems=problems,
        ) from None
