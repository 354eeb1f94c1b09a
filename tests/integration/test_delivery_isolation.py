"""The outbox sender: each message fails alone, and channels are built from the settings."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from signoff.notify import base as notify
from signoff.services import delivery, intake, processing
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.storage import audit, engine, outbox
from tests.conftest import make_settings


class Receiver:
    """A webhook receiver on 127.0.0.1 that records paths and may answer slowly."""

    def __init__(self, delay: float = 0.0) -> None:
        self.paths: list[str] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.paths.append(self.path)
                if delay:
                    receiver.release.wait(delay)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _decided_items(ctx: Context, url: str, count: int) -> list[int]:
    workflow_service.apply_workflow(
        ctx,
        f"name: hooked\nlabels: [ok, held]\nai: {{provider: fake}}\nrouting: {{threshold: 0.5}}\n"
        f'delivery: {{webhook_url: "{url}"}}\n',
        "test",
    )
    ids = [
        intake.submit_item(
            ctx, "hooked", intake.NewItem(content={"label": "ok", "confidence": 0.9}), "test"
        ).item_id
        for _ in range(count)
    ]
    providers = processing.ProviderCache(ctx)
    while processing.process_batch(ctx, "w", providers, 10):
        pass
    return ids


def _message(ctx: Context, item_id: int) -> Any:
    with ctx.sessions() as session:
        [row] = outbox.list_messages_for_item(session, item_id)
    return row


class Exploding:
    """A third-party channel with a bug: it raises instead of returning a SendResult."""

    def send(self, message: notify.Message) -> notify.SendResult:
        raise RuntimeError("channel bug")


def test_a_poisonous_message_fails_alone_and_the_rest_of_the_batch_is_sent(
    db_url: str, receiver: Receiver
) -> None:
    ctx = create_context(make_settings(db_url))
    try:
        ids = _decided_items(ctx, receiver.url, 5)
        crlf, broken = _message(ctx, ids[1]), _message(ctx, ids[3])
        # Rows stored before URLs were checked at apply time, and a channel that raises.
        with engine.transaction(ctx.sessions) as session:
            outbox.update_message(session, crlf.id, {"target": receiver.url + "\r\nX-Evil: 1"})
            outbox.update_message(session, broken.id, {"kind": "exploding"})
        ctx.channels["exploding"] = Exploding()

        assert delivery.send_due(ctx) == 5

        sent = [i for i in ids if _message(ctx, i).status == "sent"]
        assert sent == [ids[0], ids[2], ids[4]]
        assert receiver.paths == ["/hook"] * 3
        poisoned = _message(ctx, ids[1])
        assert poisoned.status == "dead"  # a malformed URL never gets better
        assert "control characters" in poisoned.last_error
        failed = _message(ctx, ids[3])
        assert (failed.status, failed.attempts) == ("pending", 1)  # a bug may be fixed: retried
        assert failed.last_error == "RuntimeError: channel bug"
        with ctx.sessions() as session:
            events = [e.type for e in audit.list_item_events(session, ids[1])]
            [attempt] = outbox.list_attempts(session, failed.id)
        assert events[-1] == "delivery_failed"
        assert attempt.error == "RuntimeError: channel bug"
    finally:
        ctx.close()


def test_the_delivery_timeout_setting_reaches_the_http_client(db_url: str) -> None:
    slow = Receiver(delay=20.0)
    ctx = create_context(make_settings(db_url, delivery={"timeout_seconds": 0.5}))
    try:
        [item_id] = _decided_items(ctx, slow.url, 1)
        delivery.send_due(ctx)
        message = _message(ctx, item_id)
        assert (message.status, message.last_error) == ("pending", "timed out after 0.5s")
        assert slow.paths == ["/hook"]  # the receiver got it but answered too late
    finally:
        slow.close()
        ctx.close()
