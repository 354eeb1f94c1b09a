"""ASGI middleware: refuse bodies over the size limit and JSON that is not UTF-8."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class BodyLimits:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _answer(
                send,
                413,
                {
                    "error": "payload_too_large",
                    "detail": f"the body is larger than {self.max_bytes} bytes",
                },
            )
            return
        # Read the whole body up front (bounded by the limit) so it can be checked once.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _answer(
                    send,
                    413,
                    {
                        "error": "payload_too_large",
                        "detail": f"the body is larger than {self.max_bytes} bytes",
                    },
                )
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"")
        textual = any(kind in content_type for kind in (b"json", b"yaml", b"text/"))
        if body and (textual or not content_type):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                await _answer(
                    send,
                    400,
                    {
                        "error": "invalid_utf8",
                        "field": "(body)",
                        "detail": f"the body is not valid UTF-8 (byte {exc.start})",
                    },
                )
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
