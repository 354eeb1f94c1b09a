"""When the client sends a request again: broken connections, 429 and 503, nothing else.

Backoff is exponential with jitter; a `Retry-After` from the server takes its place. A 4xx
other than 429 will not change by asking again, so it is raised at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import tenacity

from signoff.client import calls

# The request never reached the server: always safe to send again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The request may have reached the server: safe to resend only when repeating is harmless.
_MAYBE_SENT = (
    httpx.ReadError,
    httpx.WriteError,
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to wait; `RetryPolicy(attempts=1)` never retries."""

    #: Tries in all, the first included.
    attempts: int = 4
    #: First backoff in seconds; the ceiling doubles on each retry (full jitter).
    backoff: float = 0.5
    #: The longest backoff between two tries.
    max_backoff: float = 10.0
    #: The longest `Retry-After` honoured; a longer one is shortened to this.
    max_retry_after: float = 60.0

    def should_retry(self, call: calls.Call[Any], error: BaseException) -> bool:
        """Whether `error` from sending `call` may go away if the call is sent again."""
        if isinstance(error, calls.ApiError):
            return error.retryable
        if isinstance(error, _NOT_SENT):
            return True
        return isinstance(error, _MAYBE_SENT) and call.resendable

    def _wait(self) -> Any:
        backoff = tenacity.wait_random_exponential(multiplier=self.backoff, max=self.max_backoff)

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, calls.ApiError) and error.retry_after is not None:
                return min(error.retry_after, self.max_retry_after)
            return float(backoff(state))

        return wait

    def options(self, call: calls.Call[Any]) -> dict[str, Any]:
        """Keyword arguments of `tenacity.Retrying` / `AsyncRetrying` for this call."""
        return {
            "retry": tenacity.retry_if_exception(lambda e: self.should_retry(call, e)),
            "wait": self._wait(),
            "stop": tenacity.stop_after_attempt(max(1, self.attempts)),
            "reraise": True,
        }
