"""A real OpenAI-compatible chat-completions server on 127.0.0.1 for tests.

The `openai` provider, or any OpenAI client, points its `base_url` at it:

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from signoff.testing.scripted_server import RecordedRequest, Reply, ScriptedServer

_TOKEN = re.compile(r"\w{1,4}|\s+|[^\w\s]")
_LABEL_VALUE = re.compile(r'"label"\s*:\s*"((?:[^"\\]|\\.)*)"')


class FakeChatServer(ScriptedServer):
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
