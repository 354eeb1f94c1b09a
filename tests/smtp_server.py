"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests: it receives and parses messages."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Inbox:
    """What the server received; `reply` is the answer to DATA (e.g. "550 no")."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    reply: str = "250 OK"
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    def wait_for(self, count: int, timeout: float = 60.0) -> list[EmailMessage]:
        """Block until `count` messages arrived (or fail after `timeout` without progress)."""
        with self.arrived:
            deadline = time.monotonic() + timeout
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.messages)} of {count} emails arrived")
                self.arrived.wait(left)
            return list(self.messages)


class _Handler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if not self.inbox.reply.startswith("250"):
            return self.inbox.reply
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.inbox.arrived:
            self.inbox.messages.append(parsed)  # type: ignore[arg-type]
            self.inbox.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.inbox.arrived.notify_all()
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def receiving(*, login: tuple[str, str] | None = None) -> Iterator[Inbox]:
    """Serve SMTP on 127.0.0.1 until the block ends; with `login`, AUTH is required."""
    inbox = Inbox("127.0.0.1", _free_port())

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        if not isinstance(data, LoginPassword) or login is None:
            return AuthResult(success=False, handled=False)
        pair = (data.login.decode(), data.password.decode())
        inbox.logins.append(pair)
        return AuthResult(success=pair == login, handled=False)

    options: dict[str, Any] = {}
    if login is not None:
        options = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": False}
    controller = Controller(_Handler(inbox), hostname=inbox.host, port=inbox.port, **options)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
