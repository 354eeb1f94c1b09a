"""What a fault scenario saw on the wire: the API's answers and the webhooks received.

`Traffic` records every exchange its clients make with a deployment (including the
ones that got no answer, e.g. because `serve` was killed mid-request); `Receiver`
is a real webhook endpoint on 127.0.0.1 that records every delivery and answers as
the scenario tells it (up, down, hanging). The invariant checker reads both.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.webhook_server import serving


@dataclass(frozen=True)
class Exchange:
    """One request a scenario made and the answer it got (`status` None: no answer)."""

    method: str
    path: str
    request: Any
    status: int | None
    headers: dict[str, str]
    body: Any
    principal: str
    idempotency_key: str | None = None


@dataclass
class Traffic:
    """Every exchange of the clients made by `client`, in the order answers arrived."""

    exchanges: list[Exchange] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def snapshot(self) -> list[Exchange]:
        with self._lock:
            return list(self.exchanges)

    def record(self, principal: str, response: httpx.Response) -> None:
        """Record one answered exchange (an httpx response hook)."""
        request = response.request
        response.read()
        try:
            body: Any = response.json() if response.content else None
        except ValueError:
            body = response.text
        self.add(
            Exchange(
                method=request.method,
                path=request.url.path,
                request=_json_or_none(request.content),
                status=response.status_code,
                headers={k.lower(): v for k, v in response.headers.items()},
                body=body,
                principal=principal,
                idempotency_key=request.headers.get("idempotency-key"),
            )
        )

    def record_unanswered(self, principal: str, request: httpx.Request) -> None:
        """Record a request that got no answer (connection refused, reset, timed out)."""
        self.add(
            Exchange(
                method=request.method,
                path=request.url.path,
                request=_json_or_none(request.content),
                status=None,
                headers={},
                body=None,
                principal=principal,
                idempotency_key=request.headers.get("idempotency-key"),
            )
        )

    def client(self, base_url: str, token: str, principal: str, **kwargs: Any) -> httpx.Client:
        """An httpx client whose every answer lands here."""
        client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=kwargs.pop("timeout", 60),
            transport=_RecordingTransport(self, principal, httpx.HTTPTransport()),
            **kwargs,
        )
        return client

    def hook(self, principal: str) -> dict[str, list[Any]]:
        """Event hooks for a client made elsewhere (FastAPI's TestClient)."""
        return {"response": [lambda response: self.record(principal, response)]}


class _RecordingTransport(httpx.BaseTransport):
    """Records each exchange, answered or not, then hands the answer (or the error) on."""

    def __init__(self, traffic: Traffic, principal: str, inner: httpx.BaseTransport) -> None:
        self._traffic = traffic
        self._principal = principal
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self._inner.handle_request(request)
        except httpx.TransportError:
            self._traffic.record_unanswered(self._principal, request)
            raise
        response.read()
        response.request = request
        self._traffic.record(self._principal, response)
        return response

    def close(self) -> None:
        self._inner.close()


def _json_or_none(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return None


@dataclass(frozen=True)
class Delivery:
    """One webhook request the receiver got, and what it answered (None: it hung up)."""

    webhook_id: str
    payload: Any
    status: int | None


class Receiver:
    """A webhook endpoint that records deliveries; `down`, `up` and `hang_next` steer it."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._status = 200
        self._hang = 0
        self._release = threading.Event()
        self._arrived = threading.Event()
        self._lock = threading.Lock()
        self.url = ""

    def down(self, status: int = 503) -> None:
        with self._lock:
            self._status = status

    def up(self) -> None:
        with self._lock:
            self._status = 200

    def hang_next(self, count: int = 1) -> None:
        """Accept the next `count` deliveries but never answer them (until `release`)."""
        with self._lock:
            self._hang = count

    def release(self) -> None:
        self._release.set()

    def arrived(self) -> bool:
        return self._arrived.is_set()

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def _handle(self, body: bytes, headers: dict[str, str]) -> int:
        lowered = {k.lower(): v for k, v in headers.items()}
        payload = _json_or_none(body)
        webhook_id = lowered.get("webhook-id", "")
        with self._lock:
            hang = self._hang > 0
            if hang:
                self._hang -= 1
                self.deliveries.append(Delivery(webhook_id, payload, None))
            else:
                status = self._status
                self.deliveries.append(Delivery(webhook_id, payload, status))
        if hang:
            self._arrived.set()
            self._release.wait(600)
            return 599  # the sender that sent it is gone by now; nobody reads this
        return status


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A started Receiver; its URL is `receiver.url`."""
    receiver = Receiver()
    # serving() answers one request at a time under its own lock, so a hung delivery
    # holds back the others until release() (called at the latest on exit).
    try:
        with serving(receiver._handle) as url:
            receiver.url = url
            yield receiver
    finally:
        receiver.release()
