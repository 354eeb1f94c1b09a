"""The database-corrected clock: one clock for every process, whatever each machine says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from signoff.clock import DatabaseClock, FrozenClock

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_the_offset_to_the_database_corrects_a_clock_that_runs_ahead() -> None:
    local = FrozenClock(T0 + timedelta(minutes=5))
    clock = DatabaseClock(local, lambda: T0)
    assert clock.now() == T0
    local.advance(seconds=10)
    assert clock.now() == T0 + timedelta(seconds=10)  # no second round trip within the refresh


def test_the_offset_is_measured_again_after_the_refresh_interval() -> None:
    local = FrozenClock(T0)
    reference = [T0]
    clock = DatabaseClock(local, lambda: reference[0], refresh_seconds=0)
    assert clock.now() == T0
    reference[0] = T0 + timedelta(minutes=2)  # the database's clock was stepped
    assert clock.now() == T0 + timedelta(minutes=2)


def test_an_unreachable_database_keeps_the_last_offset() -> None:
    local = FrozenClock(T0 + timedelta(minutes=1))
    answers: list[datetime | None] = [T0, None]

    def reference() -> datetime:
        answer = answers.pop(0) if answers else None
        if answer is None:
            raise ConnectionError("database down")
        return answer

    clock = DatabaseClock(local, reference, refresh_seconds=0)
    assert clock.now() == T0
    assert clock.now() == T0  # the outage: the last measured offset stands
    assert clock.offset == timedelta(minutes=-1)
