"""A real model endpoint on 127.0.0.1 for `provider: http` in tests: any POST answers from the script."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from signoff.testing.scripted_server import RecordedRequest, Reply, ScriptedServer


class FakeModelEndpoint(ScriptedServer):
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
