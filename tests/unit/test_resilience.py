"""Rate limiter, circuit breaker and error classification, on an injected clock."""

from __future__ import annotations

import email.utils
import threading
from datetime import UTC, datetime

import pytest

from signoff.ai import resilience
from signoff.domain import errors


class FakeClock:
    """A monotonic clock that only moves when told to (or when `sleep` advances it)."""

    def __init__(self, advance_on_sleep: bool = True) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._advance = advance_on_sleep
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if self._advance:
                self.now += seconds


def limiter(clock: FakeClock, **kwargs: float) -> resilience.RateLimiter:
    return resilience.RateLimiter(clock=clock, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


def test_requests_within_the_burst_do_not_wait_and_the_next_one_does() -> None:
    clock = FakeClock()
    rl = limiter(clock, requests_per_minute=60)
    waits = [rl.acquire() for _ in range(60)]
    assert waits == [0.0] * 60
    assert rl.acquire() == pytest.approx(1.0)


def test_acquire_waits_for_refill_at_the_configured_rate() -> None:
    clock = FakeClock()
    rl = limiter(clock, requests_per_minute=30, request_burst=1)
    assert rl.acquire() == 0.0
    assert rl.acquire() == pytest.approx(2.0)
    assert rl.acquire() == pytest.approx(2.0)
    clock.now += 10
    assert rl.acquire() == 0.0
    assert clock.sleeps == [pytest.approx(2.0), pytest.approx(2.0)]


def test_tokens_per_minute_limits_large_requests() -> None:
    clock = FakeClock()
    rl = limiter(clock, tokens_per_minute=600)
    assert rl.acquire(600) == 0.0
    # 600 tokens a minute refill at 10 a second.
    assert rl.acquire(300) == pytest.approx(30.0)


def test_a_request_larger_than_the_bucket_passes_on_a_full_bucket() -> None:
    clock = FakeClock()
    rl = limiter(clock, tokens_per_minute=120)
    assert rl.acquire(10_000) == 0.0
    assert rl.acquire(60) == pytest.approx(30.0)


def test_requests_and_tokens_both_limit_and_the_longer_wait_wins() -> None:
    clock = FakeClock()
    rl = limiter(
        clock, requests_per_minute=60, tokens_per_minute=60, request_burst=1, token_burst=60
    )
    assert rl.acquire(60) == 0.0
    assert rl.acquire(30) == pytest.approx(30.0)


def test_a_wait_beyond_max_wait_raises_retryable_error_and_reserves_nothing() -> None:
    clock = FakeClock()
    rl = limiter(clock, requests_per_minute=60, request_burst=1, max_wait=0.5)
    rl.acquire()
    with pytest.raises(errors.ProviderError) as caught:
        rl.acquire()
    assert caught.value.retryable
    assert caught.value.retry_after == pytest.approx(1.0)
    assert clock.sleeps == []
    clock.now += 1.0
    assert rl.acquire() == 0.0


def test_per_call_max_wait_overrides_the_default() -> None:
    clock = FakeClock()
    rl = limiter(clock, requests_per_minute=60, request_burst=1, max_wait=0)
    rl.acquire()
    assert rl.acquire(max_wait=5) == pytest.approx(1.0)


def test_concurrent_callers_get_distinct_queued_slots() -> None:
    clock = FakeClock(advance_on_sleep=False)
    rl = limiter(clock, requests_per_minute=6000, request_burst=1, max_wait=60)
    barrier = threading.Barrier(20)

    def worker() -> None:
        barrier.wait()
        rl.acquire()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # One caller goes at once; the others were each given the next 10 ms slot.
    assert sorted(clock.sleeps) == [pytest.approx(i * 0.01) for i in range(1, 20)]


def test_defer_refuses_every_caller_at_once_until_the_delay_passes() -> None:
    clock = FakeClock()
    rl = limiter(clock)
    rl.defer(5)
    for _ in range(2):
        with pytest.raises(errors.ProviderError) as raised:
            rl.acquire()
        assert raised.value.retryable
        assert raised.value.retry_after == pytest.approx(5.0)
    assert clock.sleeps == []
    clock.now += 5
    assert rl.acquire() == 0.0


def test_record_tokens_gives_back_an_overestimate() -> None:
    clock = FakeClock()
    rl = limiter(clock, tokens_per_minute=600)
    rl.acquire(600)
    rl.record_tokens(estimated=600, actual=300)
    assert rl.acquire(300) == 0.0


def test_a_limiter_without_limits_never_waits() -> None:
    clock = FakeClock()
    rl = limiter(clock)
    assert all(rl.acquire(1_000_000) == 0.0 for _ in range(100))


def breaker(
    clock: FakeClock, failures: int = 3, cooldown: float = 10.0
) -> resilience.CircuitBreaker:
    return resilience.CircuitBreaker(failures, cooldown, name="test", clock=clock)


def fail() -> None:
    raise errors.ProviderError("boom", retryable=True)


def test_circuit_opens_after_n_consecutive_failures_and_fails_fast() -> None:
    clock = FakeClock()
    cb = breaker(clock)
    calls = []
    for _ in range(3):
        with pytest.raises(errors.ProviderError):
            cb.call(lambda: calls.append(1) or fail())
    assert cb.state == "open"
    clock.now += 4
    with pytest.raises(errors.ProviderError) as caught:
        cb.call(lambda: calls.append(1))
    assert caught.value.retryable
    assert caught.value.retry_after == pytest.approx(6.0)
    assert "circuit open" in caught.value.detail
    assert len(calls) == 3


def test_a_success_resets_the_consecutive_failure_count() -> None:
    clock = FakeClock()
    cb = breaker(clock)
    for _ in range(2):
        with pytest.raises(errors.ProviderError):
            cb.call(fail)
    cb.call(lambda: None)
    for _ in range(2):
        with pytest.raises(errors.ProviderError):
            cb.call(fail)
    assert cb.state == "closed"


def test_non_retryable_errors_do_not_open_the_circuit() -> None:
    clock = FakeClock()
    cb = breaker(clock, failures=1)

    def bad_request() -> None:
        raise errors.ProviderError("400", retryable=False)

    for _ in range(5):
        with pytest.raises(errors.ProviderError):
            cb.call(bad_request)
    assert cb.state == "closed"


def test_unexpected_exceptions_count_as_failures() -> None:
    clock = FakeClock()
    cb = breaker(clock, failures=1)
    with pytest.raises(RuntimeError):
        cb.call(lambda: (_ for _ in ()).throw(RuntimeError("crash")))
    assert cb.state == "open"


def test_half_open_admits_one_trial_and_a_successful_trial_closes_the_circuit() -> None:
    clock = FakeClock()
    cb = breaker(clock, failures=1)
    with pytest.raises(errors.ProviderError):
        cb.call(fail)
    clock.now += 10
    assert cb.state == "half_open"
    cb.before_call()  # the trial
    with pytest.raises(errors.ProviderError) as caught:
        cb.before_call()
    assert "trial" in caught.value.detail and caught.value.retryable
    cb.record_success()
    assert cb.state == "closed"
    cb.call(lambda: None)


def test_a_failed_trial_reopens_the_circuit_for_a_full_cooldown() -> None:
    clock = FakeClock()
    cb = breaker(clock, failures=2)
    for _ in range(2):
        with pytest.raises(errors.ProviderError):
            cb.call(fail)
    clock.now += 10
    with pytest.raises(errors.ProviderError):
        cb.call(fail)
    assert cb.state == "open"
    with pytest.raises(errors.ProviderError) as caught:
        cb.check()
    assert caught.value.retry_after == pytest.approx(10.0)


def test_a_trial_that_never_reports_does_not_block_the_circuit_forever() -> None:
    clock = FakeClock()
    cb = breaker(clock, failures=1)
    with pytest.raises(errors.ProviderError):
        cb.call(fail)
    clock.now += 10
    cb.before_call()  # a trial whose thread dies
    clock.now += 10
    cb.before_call()  # a new trial is admitted


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("-1", None),
        ("abc", None),
        ("", None),
        (None, None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_retry_after_reads_delay_seconds(value: str | None, expected: float | None) -> None:
    assert resilience.parse_retry_after(value) == expected


def test_parse_retry_after_reads_an_http_date() -> None:
    now = 1_700_000_000.0
    later = email.utils.format_datetime(datetime.fromtimestamp(now + 30, tz=UTC), usegmt=True)
    assert resilience.parse_retry_after(later, now=now) == pytest.approx(30.0)
    earlier = email.utils.format_datetime(datetime.fromtimestamp(now - 30, tz=UTC), usegmt=True)
    assert resilience.parse_retry_after(earlier, now=now) == 0.0


def test_retry_after_ms_header_wins_over_retry_after() -> None:
    assert (
        resilience.retry_after_from_headers({"Retry-After-Ms": "250", "Retry-After": "9"}) == 0.25
    )
    assert resilience.retry_after_from_headers({"Retry-After": "9"}) == 9.0
    assert resilience.retry_after_from_headers({}) is None


@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (429, {"error": {"code": "rate_limit_exceeded"}}, True),
        (429, {"error": {"code": "insufficient_quota", "type": "insufficient_quota"}}, False),
        (429, {"type": "insufficient_quota"}, False),
        (500, None, True),
        (502, None, True),
        (503, None, True),
        (408, None, True),
        (400, None, False),
        (401, None, False),
        (403, None, False),
        (404, None, False),
        (422, None, False),
    ],
)
def test_error_for_status_classifies_http_failures(
    status: int, body: object, retryable: bool
) -> None:
    error = resilience.error_for_status(status, {"retry-after": "3"}, body, "svc")
    assert error.retryable is retryable
    if retryable:
        assert error.retry_after == 3.0


def test_parse_options_refuses_credentials_and_names_the_field() -> None:
    with pytest.raises(errors.InvalidWorkflow) as caught:
        resilience.parse_options(
            resilience.ResilienceOptions,
            {"api_key": "sk-secret"},
            "x",
            secret_keys={"api_key": "use an env var"},
        )
    assert "ai.options.api_key" in caught.value.detail
    assert "sk-secret" not in caught.value.detail


def test_parse_options_names_the_bad_field() -> None:
    with pytest.raises(errors.InvalidWorkflow) as caught:
        resilience.parse_options(
            resilience.ResilienceOptions,
            {"timeout_seconds": -1, "colour": "red"},
            "x",
            secret_keys={},
        )
    fields = {p["field"] for p in caught.value.context["problems"]}
    assert fields == {"ai.options.timeout_seconds", "ai.options.colour"}
