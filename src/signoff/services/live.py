"""Live updates across processes: bridge the in-process EventBus over PostgreSQL LISTEN/NOTIFY.

On SQLite one process serves everything and the bus is enough. On PostgreSQL each
process runs a bridge: what its bus publishes locally is NOTIFYed (by a sender
thread on its own connection, after the publishing transaction committed), and a
LISTEN thread republishes other processes' notices on the local bus. A process
token in every payload, and a thread-local flag while republishing, stop echoes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import uuid
from typing import Any

import psycopg
import sqlalchemy as sa

from signoff.services.context import Context

log = logging.getLogger(__name__)

CHANNEL = "signoff_events"
#: PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
MAX_PAYLOAD = 7900
RECONNECT_SECONDS = 2.0


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL as a plain libpq URL psycopg accepts."""
    url = sa.engine.make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def encode(origin: str, kind: str, data: dict[str, Any]) -> str:
    """The NOTIFY payload; oversized data keeps only its scalar fields."""
    payload = json.dumps({"origin": origin, "kind": kind, "data": data}, default=str)
    if len(payload.encode()) <= MAX_PAYLOAD:
        return payload
    small = {k: v for k, v in data.items() if isinstance(v, str | int | float | bool)}
    small["truncated"] = True
    return json.dumps({"origin": origin, "kind": kind, "data": small}, default=str)


class PgBridge:
    """Forward local bus events to other processes and theirs to this one."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.origin = uuid.uuid4().hex
        self.url = libpq_url(ctx.settings.database_url)
        self._outgoing: queue.Queue[str | None] = queue.Queue(maxsize=10_000)
        self._stop = threading.Event()
        self._local = threading.local()
        self._threads: list[threading.Thread] = []
        self._unsubscribe: Any = None
        self.listening = threading.Event()

    def start(self) -> None:
        self._unsubscribe = self.ctx.bus.subscribe(self._on_local)
        for name, target in (("notify", self._send_loop), ("listen", self._listen_loop)):
            thread = threading.Thread(target=target, name=f"signoff-live-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("action=live_bridge_started origin=%s", self.origin)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop both threads and close their connections."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._outgoing.put_nowait(None)
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _on_local(self, kind: str, data: dict[str, Any]) -> None:
        if getattr(self._local, "republishing", False):
            return  # came from another process: do not send it back
        try:
            self._outgoing.put_nowait(encode(self.origin, kind, data))
        except queue.Full:
            log.warning("action=live_notify_dropped kind=%s", kind)

    def _send_loop(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        while not self._stop.is_set():
            payload = self._outgoing.get()
            if payload is None:
                break
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.url, autocommit=True)
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
            except psycopg.Error as exc:
                log.warning("action=live_notify_failed error=%s", exc)
                if conn is not None:
                    conn.close()
                conn = None
                self._stop.wait(RECONNECT_SECONDS)
        if conn is not None:
            conn.close()

    def _listen_loop(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=0.5):
                            self._republish(notice.payload)
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("action=live_listen_failed error=%s", exc)
                self._stop.wait(RECONNECT_SECONDS)
        self.listening.clear()

    def _republish(self, payload: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("origin") == self.origin:
            return
        self._local.republishing = True
        try:
            self.ctx.bus.publish(str(message.get("kind")), dict(message.get("data") or {}))
        except Exception:
            log.exception("action=live_republish_failed")
        finally:
            self._local.republishing = False


def start_bridge(ctx: Context) -> PgBridge | None:
    """Start a bridge when the database is PostgreSQL; None on SQLite."""
    if ctx.settings.is_sqlite or not ctx.settings.database_url.startswith("postgresql"):
        return None
    bridge = PgBridge(ctx)
    bridge.start()
    return bridge
