"""Real HTTP servers on 127.0.0.1 that stand in for an LLM API or a model endpoint in tests.

`FakeChatServer` speaks the OpenAI chat-completions protocol (so the `openai`
provider, or any OpenAI client, can point its `base_url` at it); `FakeModelEndpoint`
answers the `http` provider. Both run in a background thread, record every request,
and answer from a script: each script call queues one reply (`times=` more), or
with `always=True` becomes the reply used whenever the queue is empty.

    with FakeChatServer() as fake:
        fake.rate_limit(retry_after=2)
        fake.answer("invoice", label_prob=0.9, always=True)
        ...  # point the provider at fake.base_url
"""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_TOKEN = re.compile(r"\w{1,4}|\s+|[^\w\s]")
_LABEL_VALUE = re.compile(r'"label"\s*:\s*"((?:[^"\\]|\\.)*)"')


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
    scripted: _ScriptedServer

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


class _ScriptedServer:
    """Server machinery shared by the fakes: thread, script queue, recorded requests."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Behaviour] = deque()
        self._default: Behaviour | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _ScriptedServer:
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


class FakeChatServer(_ScriptedServer):
    """An OpenAI-compatible `POST /v1/chat/completions` with scripted answers and logprobs."""

    def __init__(self, *, supports_n: bool = True, model: str | None = None) -> None:
        super().__init__()
        self.supports_n = supports_n
        self.model = model

    def __enter__(self) -> FakeChatServer:
        self.start()
        return self

    @property
    def base_url(self) -> str:
        """The `base_url` to give an OpenAI client."""
        return f"http://127.0.0.1:{self.port}/v1"

    def answer(
        self,
        label: str,
        entities: Iterable[Mapping[str, str]] = (),
        *,
        logprobs: bool = True,
        label_prob: float = 0.93,
        extra: Mapping[str, Any] | None = None,
        times: int = 1,
        always: bool = False,
    ) -> None:
        """Answer `{"label", "entities", **extra}`; logprobs put `label_prob` on the label."""
        content = json.dumps(
            {"label": label, "entities": [dict(e) for e in entities], **(extra or {})}
        )
        self._choices(lambda: (content, logprobs, label_prob), times, always)

    def samples(self, labels: Sequence[str], *, times: int = 1, always: bool = False) -> None:
        """Answer each sample (choice) with the next label of `labels`, cycling across calls."""
        cycle = itertools.cycle(list(labels))
        lock = threading.Lock()

        def next_choice() -> tuple[str, bool, float]:
            with lock:
                label = next(cycle)
            return json.dumps({"label": label, "entities": []}), False, 1.0

        self._choices(next_choice, times, always)

    def answer_raw(self, content: str, *, times: int = 1, always: bool = False) -> None:
        """Answer with this exact message content, without logprobs."""
        self._choices(lambda: (content, False, 1.0), times, always)

    def malformed(self, *, times: int = 1, always: bool = False) -> None:
        """Answer with content that is not valid JSON."""
        self.answer_raw('{"label": "unfinished', times=times, always=always)

    def _choices(
        self, make: Callable[[], tuple[str, bool, float]], times: int, always: bool
    ) -> None:
        self.script(lambda request: self._completion(request, make), times=times, always=always)

    def _route(self, request: RecordedRequest) -> Reply | None:
        if request.method == "GET" and request.path.rstrip("/").endswith("/models"):
            return Reply.json(
                {
                    "object": "list",
                    "data": [
                        {"id": self.model or "fake-model", "object": "model", "owned_by": "signoff"}
                    ],
                }
            )
        if request.method != "POST" or not request.path.rstrip("/").endswith("/chat/completions"):
            return Reply.json(
                {
                    "error": {
                        "message": f"no route {request.path}",
                        "type": "invalid_request_error",
                        "code": None,
                    }
                },
                404,
            )
        return None

    def _fallback(self, request: RecordedRequest) -> Reply:
        labels = _schema_labels(request.body)
        content = json.dumps({"label": labels[0] if labels else "unknown", "entities": []})
        return self._completion(request, lambda: (content, True, 0.93))

    def _completion(
        self, request: RecordedRequest, make: Callable[[], tuple[str, bool, float]]
    ) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        n = max(1, int(body.get("n") or 1)) if self.supports_n else 1
        want_logprobs = bool(body.get("logprobs"))
        top = int(body.get("top_logprobs") or 0)
        choices = []
        completion_tokens = 0
        for index in range(n):
            content, with_logprobs, label_prob = make()
            tokens = token_logprobs(content, label_prob, top)
            completion_tokens += len(tokens)
            choices.append(
                {
                    "index": index,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": (
                        {"content": tokens, "refusal": None}
                        if want_logprobs and with_logprobs
                        else None
                    ),
                    "finish_reason": "stop",
                }
            )
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in request.messages) // 4
        return Reply.json(
            {
                "id": f"chatcmpl-fake-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model or body.get("model") or "fake-model",
                "system_fingerprint": "fake",
                "choices": choices,
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )


class FakeModelEndpoint(_ScriptedServer):
    """A model endpoint for `provider: http`: any POST answers from the script."""

    def __enter__(self) -> FakeModelEndpoint:
        self.start()
        return self

    @property
    def url(self) -> str:
        """The `url` option to give the http provider."""
        return f"http://127.0.0.1:{self.port}/predict"

    def answer(
        self,
        label: str | None,
        confidence: float | None = 0.9,
        entities: Iterable[Mapping[str, Any]] = (),
        *,
        times: int = 1,
        always: bool = False,
    ) -> None:
        """Answer `{"label", "confidence", "entities"}`."""
        self.respond(
            {"label": label, "confidence": confidence, "entities": [dict(e) for e in entities]},
            times=times,
            always=always,
        )

    def respond(
        self,
        body: Any,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        *,
        times: int = 1,
        always: bool = False,
    ) -> None:
        """Answer with this JSON body and status."""
        self.script(lambda _r: Reply.json(body, status, headers), times=times, always=always)

    def respond_raw(
        self,
        text: str,
        status: int = 200,
        content_type: str = "text/plain",
        *,
        times: int = 1,
        always: bool = False,
    ) -> None:
        """Answer with this exact text."""
        reply = Reply(status, text.encode(), {"content-type": content_type})
        self.script(lambda _r: reply, times=times, always=always)

    def _fallback(self, request: RecordedRequest) -> Reply:
        labels = request.body.get("labels") if isinstance(request.body, dict) else None
        label = labels[0] if isinstance(labels, list) and labels else None
        return Reply.json({"label": label, "confidence": 0.9, "entities": []})


def token_logprobs(content: str, label_prob: float, top: int = 0) -> list[dict[str, Any]]:
    """Per-token logprob entries that concatenate to `content`.

    The first token of the `label` value carries log(label_prob); every other token
    is certain (logprob 0), so a client multiplying the label's tokens gets label_prob.
    """
    match = _LABEL_VALUE.search(content)
    label_start = match.start(1) if match else -1
    entries: list[dict[str, Any]] = []
    placed = False
    for token in _TOKEN.finditer(content):
        logprob = 0.0
        alternatives: list[dict[str, Any]] = []
        if not placed and label_start >= 0 and token.start() >= label_start:
            placed = True
            logprob = math.log(label_prob) if label_prob > 0 else -9999.0
            if label_prob < 1:
                rest = math.log1p(-label_prob)
                alternatives.append({"token": "other", "logprob": rest, "bytes": list(b"other")})
        text = token.group()
        own = {"token": text, "logprob": logprob, "bytes": list(text.encode())}
        top_entries = sorted([own, *alternatives], key=lambda e: -e["logprob"])[:top]
        entries.append({**own, "top_logprobs": top_entries})
    return entries


def _schema_labels(body: Any) -> list[str]:
    try:
        schema = body["response_format"]["json_schema"]["schema"]
        return [str(label) for label in schema["properties"]["label"]["enum"]]
    except (KeyError, TypeError):
        return []


def _header_number(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)
