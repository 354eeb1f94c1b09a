"""A real HTTP server on 127.0.0.1 that answers from a script and records every request.

The base of the fakes that stand in for an LLM API (`fake_chat.FakeChatServer`) or a
model endpoint (`fake_endpoint.FakeModelEndpoint`). Each script call queues one reply
(`times=` more), or with `always=True` becomes the reply used whenever the queue is
empty; `requests` holds what arrived.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One request a fake server received; `body` is parsed JSON when it was JSON."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of a chat-completions request (empty otherwise)."""
        messages = self.body.get("messages") if isinstance(self.body, dict) else None
        return list(messages) if isinstance(messages, list) else []


@dataclass(frozen=True)
class Reply:
    """What a fake server sends back."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(
            status,
            json.dumps(data).encode(),
            {"content-type": "application/json", **(headers or {})},
        )


Behaviour = Callable[[RecordedRequest], Reply]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a hung handler must not keep the test process alive
    scripted: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out close their socket mid-reply; that is expected here


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve()

    def do_GET(self) -> None:  # noqa: N802
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {key.lower(): value for key, value in self.headers.items()}
        request = RecordedRequest(self.command, self.path, headers, body)
        reply = self.server.scripted._dispatch(request)
        try:
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            pass  # the client gave up (timeout tests)


class ScriptedServer:
    """Server machinery shared by the fakes: thread, script queue, recorded requests."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Behaviour] = deque()
        self._default: Behaviour | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ScriptedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Listen on a free port of 127.0.0.1 and serve from a background thread."""
        if self._httpd is not None:
            return
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.scripted = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving; hung replies are released at once."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake server is not started; use it as a context manager")
        return int(self._httpd.server_address[1])

    def script(self, behaviour: Behaviour, *, times: int = 1, always: bool = False) -> None:
        """Queue `behaviour` for the next `times` requests, or make it the default."""
        with self._lock:
            if always:
                self._default = behaviour
            else:
                self._queue.extend([behaviour] * times)

    def reset(self) -> None:
        """Forget the script, the default and the recorded requests."""
        with self._lock:
            self._queue.clear()
            self._default = None
            self.requests.clear()

    def rate_limit(
        self,
        retry_after: float | str | None = 1,
        code: str | None = None,
        *,
        times: int = 1,
        always: bool = False,
    ) -> None:
        """Answer 429; `code="insufficient_quota"` imitates an exhausted spend limit."""
        headers = {} if retry_after is None else {"retry-after": _header_number(retry_after)}
        message = (
            "You exceeded your current quota"
            if code == "insufficient_quota"
            else "Rate limit reached for requests"
        )
        body = {
            "error": {
                "message": message,
                "type": code or "requests",
                "param": None,
                "code": code or "rate_limit_exceeded",
            }
        }
        self.script(lambda _r: Reply.json(body, 429, headers), times=times, always=always)

    def server_error(self, status: int = 500, *, times: int = 1, always: bool = False) -> None:
        """Answer with an HTTP error status and an OpenAI-style error body."""
        body = {
            "error": {
                "message": "The server had an error",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
        self.script(lambda _r: Reply.json(body, status), times=times, always=always)

    def hang(self, seconds: float, *, times: int = 1, always: bool = False) -> None:
        """Wait `seconds` (or until closed) before answering as by default."""

        def behaviour(request: RecordedRequest) -> Reply:
            self._stopping.wait(seconds)
            return self._fallback(request)

        self.script(behaviour, times=times, always=always)

    def _dispatch(self, request: RecordedRequest) -> Reply:
        routed = self._route(request)
        if routed is not None:
            return routed
        with self._lock:
            self.requests.append(request)
            behaviour = self._queue.popleft() if self._queue else self._default
        return behaviour(request) if behaviour is not None else self._fallback(request)

    def _route(self, request: RecordedRequest) -> Reply | None:
        """Answer requests outside the scripted endpoint (None: use the script)."""
        return None

    def _fallback(self, request: RecordedRequest) -> Reply:
        raise NotImplementedError


def _header_number(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)
