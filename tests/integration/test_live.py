"""Live updates across processes: the PostgreSQL LISTEN/NOTIFY bridge of the event bus."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from signoff.services import live
from signoff.services.context import create_context
from tests.conftest import make_settings


def _collect(ctx: Any) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    ctx.bus.subscribe(lambda kind, data: seen.append((kind, data)))
    return seen


def _wait(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_no_bridge_on_sqlite(sqlite_url: str) -> None:
    ctx = create_context(make_settings(sqlite_url))
    try:
        assert live.start_bridge(ctx) is None
    finally:
        ctx.close()


@pytest.mark.postgres
def test_events_published_in_one_process_reach_the_other_without_echo(pg_url: str) -> None:
    first, second = (create_context(make_settings(pg_url)) for _ in range(2))
    bridges = [live.start_bridge(first), live.start_bridge(second)]
    try:
        assert all(b is not None for b in bridges)
        for bridge in bridges:
            assert bridge is not None
            assert bridge.listening.wait(10)
        seen_first, seen_second = _collect(first), _collect(second)
        first.bus.publish("tasks_created", {"count": 3})
        _wait(lambda: seen_second == [("tasks_created", {"count": 3})])
        second.bus.publish("items_decided", {"item_ids": [1, 2]})
        _wait(lambda: ("items_decided", {"item_ids": [1, 2]}) in seen_first)
        time.sleep(0.5)  # give an echo the time it would need
        both = [("tasks_created", {"count": 3}), ("items_decided", {"item_ids": [1, 2]})]
        assert seen_first == both and seen_second == both
    finally:
        for bridge in bridges:
            if bridge is not None:
                bridge.stop()
        first.close()
        second.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("signoff-live")]


def test_oversized_payloads_are_trimmed_to_what_notify_accepts() -> None:
    payload = live.encode("origin", "items_decided", {"item_ids": list(range(5000)), "count": 5000})
    assert len(payload.encode()) <= live.MAX_PAYLOAD
    assert '"truncated": true' in payload and '"count": 5000' in payload


@pytest.mark.postgres
def test_the_app_runs_the_bridge_while_it_serves_on_postgresql(pg_url: str) -> None:
    from fastapi.testclient import TestClient

    from signoff.app import create_app

    ctx = create_context(make_settings(pg_url))
    try:
        with TestClient(create_app(ctx=ctx)):
            assert any(t.name == "signoff-live-listen" for t in threading.enumerate())
        assert not [t for t in threading.enumerate() if t.name.startswith("signoff-live")]
    finally:
        ctx.close()
