"""Retries against a real HTTP server on 127.0.0.1 that answers 503/429 before 200."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from signoff.client import ApiError, AsyncClient, Client, RetryPolicy, calls
from tests.live_server import free_port

ITEM = {
    "id": 1,
    "workflow": "docs",
    "workflow_version": 1,
    "external_id": None,
    "state": "approved",
    "content": {"text": "x"},
    "metadata": None,
    "created_at": "2025-01-01T00:00:00",
    "updated_at": "2025-01-01T00:00:00",
    "prediction": None,
    "route": None,
    "decision": None,
}
Answer = tuple[int, dict[str, str], dict[str, Any]]


class Script:
    """Answers in turn (the last one repeats), recording when each request arrived."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.arrivals: list[tuple[str, str, float]] = []

    def next(self, method: str, path: str) -> Answer:
        self.arrivals.append((method, path, time.monotonic()))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@contextmanager
def scripted(script: Script, port: int = 0) -> Iterator[str]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            with lock:
                status, headers, body = script.next(self.command, self.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {"content-type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer  # noqa: N815 (http.server's naming)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


FAST = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.05)
UNAVAILABLE = (503, {"retry-after": "1"}, {"error": "database_unavailable", "detail": "down"})
LIMITED = (429, {"retry-after": "1"}, {"error": "rate_limited", "detail": "slow down"})


def test_the_client_waits_as_retry_after_says_on_503_and_429_then_gets_the_answer() -> None:
    script = Script(UNAVAILABLE, LIMITED, (200, {}, ITEM))
    with scripted(script) as url, Client(url, "sk_test", retry=FAST) as client:
        item = client.get(1)
    assert item["state"] == "approved"
    assert len(script.arrivals) == 3
    gaps = [b[2] - a[2] for a, b in zip(script.arrivals, script.arrivals[1:], strict=False)]
    # Retry-After: 1 overrides the 0.05 s backoff ceiling.
    assert all(gap >= 0.95 for gap in gaps), gaps


def test_the_async_client_retries_the_same_way() -> None:
    script = Script(UNAVAILABLE, (200, {}, ITEM))

    async def run(url: str) -> dict[str, Any]:
        async with AsyncClient(url, "sk_test", retry=FAST) as client:
            return (await client.get(1)).model_dump(mode="json")

    with scripted(script) as url, ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, run(url)).result(timeout=30) == ITEM
    assert len(script.arrivals) == 2
    assert script.arrivals[1][2] - script.arrivals[0][2] >= 0.95


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_a_4xx_that_will_not_change_is_raised_after_one_request(status: int) -> None:
    script = Script((status, {}, {"error": "nope", "detail": "no", "field": "content"}))
    with (
        scripted(script) as url,
        Client(url, "sk_test", retry=FAST) as client,
        pytest.raises(ApiError) as raised,
    ):
        client.submit("docs", {"text": "x"})
    assert raised.value.status == status
    assert raised.value.field == "content"
    assert len(script.arrivals) == 1


def test_the_client_gives_up_after_its_attempts_and_raises_the_last_answer() -> None:
    script = Script((503, {"retry-after": "0"}, {"error": "database_unavailable", "detail": "x"}))
    policy = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.01)
    with (
        scripted(script) as url,
        Client(url, "sk_test", retry=policy) as client,
        pytest.raises(ApiError) as raised,
    ):
        client.get(1)
    assert raised.value.status == 503 and raised.value.retry_after == 0
    assert len(script.arrivals) == 3


def test_a_refused_connection_is_retried_until_the_server_comes_up() -> None:
    port = free_port()
    refused = threading.Event()

    class Watching(RetryPolicy):
        def should_retry(self, call: Any, error: BaseException) -> bool:
            if isinstance(error, httpx.ConnectError):
                refused.set()
            return super().should_retry(call, error)

    script = Script((201, {}, ITEM))
    result: dict[str, Any] = {}

    def call() -> None:
        policy = Watching(attempts=50, backoff=0.05, max_backoff=0.2)
        with Client(f"http://127.0.0.1:{port}", "sk_test", retry=policy) as client:
            result["item"] = client.submit("docs", {"text": "x"})

    thread = threading.Thread(target=call)
    thread.start()
    assert refused.wait(10), "the client never found the port closed"
    with scripted(script, port=port):
        thread.join(30)
    assert result["item"]["id"] == 1
    assert len(script.arrivals) == 1


def test_a_post_without_idempotency_key_is_not_resent_after_the_connection_broke() -> None:
    policy = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.01)
    call = calls.submit("docs", {"text": "x"})
    keyed = calls.submit("docs", {"text": "x"}, idempotency_key="k-1")
    broken = httpx.RemoteProtocolError("server disconnected")
    assert not policy.should_retry(call, broken)
    assert policy.should_retry(keyed, broken)
    assert policy.should_retry(calls.get_item(1), broken)
    assert policy.should_retry(call, httpx.ConnectError("refused"))


def test_retry_after_as_an_http_date_counts_down_to_that_moment() -> None:
    now = 1_700_000_000.0
    assert calls.parse_retry_after("Tue, 14 Nov 2023 22:13:40 GMT", now=now) == pytest.approx(20.0)
    assert calls.parse_retry_after("7", now=now) == 7.0
    assert calls.parse_retry_after("soon", now=now) is None
