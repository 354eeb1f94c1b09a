"""Thin clients over the REST API: submit items, wait for decisions, review."""

from __future__ import annotations

import time
from typing import Any

import httpx

DEFAULT_TIMEOUT = 30.0


class ApiError(Exception):
    """The server answered with an error: `status`, `code` and `detail` from its JSON body."""

    def __init__(self, status: int, code: str, detail: str, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.body = body


def _check(response: httpx.Response) -> dict[str, Any] | None:
    """The JSON object the server answered, None for 204, or ApiError."""
    if response.status_code == 204:
        return None
    try:
        body = response.json()
    except ValueError:
        body = {"error": "http_error", "detail": response.text}
    if response.status_code >= 400:
        raise ApiError(
            response.status_code, body.get("error", "http_error"), body.get("detail", ""), body
        )
    return body  # type: ignore[no-any-return]


def _json(response: httpx.Response) -> dict[str, Any]:
    body = _check(response)
    if body is None:
        raise ApiError(response.status_code, "no_content", "the server answered 204", {})
    return body


def _item_body(
    content: dict[str, Any], external_id: str | None, metadata: dict[str, Any] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"content": content}
    if external_id is not None:
        body["external_id"] = external_id
    if metadata is not None:
        body["metadata"] = metadata
    return body


class Client:
    """Synchronous client: `Client("http://localhost:8000", api_key="sk_...")`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"},
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def apply_workflow(self, name: str, definition: str | dict[str, Any]) -> dict[str, Any]:
        if isinstance(definition, str):
            return _json(
                self._http.put(
                    f"/api/v1/workflows/{name}",
                    content=definition,
                    headers={"content-type": "application/yaml"},
                )
            )
        return _json(self._http.put(f"/api/v1/workflows/{name}", json=definition))

    def submit(
        self,
        workflow: str,
        content: dict[str, Any],
        *,
        external_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Submit one item; pass an idempotency key to make retries safe."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return _json(
            self._http.post(
                f"/api/v1/workflows/{workflow}/items",
                json=_item_body(content, external_id, metadata),
                headers=headers,
            )
        )

    def submit_batch(self, workflow: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = _json(
            self._http.post(f"/api/v1/workflows/{workflow}/items/batch", json={"items": items})
        )
        return list(body["items"])

    def get(self, item_id: int) -> dict[str, Any]:
        return _json(self._http.get(f"/api/v1/items/{item_id}"))

    def wait(self, item_id: int, timeout: float = 300.0, poll: float = 30.0) -> dict[str, Any]:
        """Long-poll until the item is decided or cancelled (or `timeout` passes)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            item = _json(
                self._http.get(
                    f"/api/v1/items/{item_id}/wait",
                    params={"timeout": min(poll, remaining)},
                    timeout=min(poll, remaining) + 10,
                )
            )
            if not item.get("timed_out") or remaining <= 0:
                return item

    def cancel(self, item_id: int, reason: str | None = None) -> dict[str, Any]:
        return _json(self._http.post(f"/api/v1/items/{item_id}/cancel", json={"reason": reason}))

    def events(self, item_id: int) -> dict[str, Any]:
        return _json(self._http.get(f"/api/v1/items/{item_id}/events"))

    def claim(self, workflow: str | None = None) -> dict[str, Any] | None:
        """Reviewer: the next task, or None when nothing is waiting."""
        return _check(self._http.post("/api/v1/reviews/claim", json={"workflow": workflow}))

    def decide(
        self, task_id: int, outcome: str, *, label: str | None = None, comment: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"outcome": outcome, "label": label, "comment": comment}
        return _json(self._http.post(f"/api/v1/tasks/{task_id}/decision", json=body))


class AsyncClient:
    """Asynchronous client with the same calls as `Client`, for orchestrators."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"},
            transport=transport,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def submit(
        self,
        workflow: str,
        content: dict[str, Any],
        *,
        external_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return _json(
            await self._http.post(
                f"/api/v1/workflows/{workflow}/items",
                json=_item_body(content, external_id, metadata),
                headers=headers,
            )
        )

    async def get(self, item_id: int) -> dict[str, Any]:
        return _json(await self._http.get(f"/api/v1/items/{item_id}"))

    async def wait(
        self, item_id: int, timeout: float = 300.0, poll: float = 30.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            item = _json(
                await self._http.get(
                    f"/api/v1/items/{item_id}/wait",
                    params={"timeout": min(poll, remaining)},
                    timeout=min(poll, remaining) + 10,
                )
            )
            if not item.get("timed_out") or remaining <= 0:
                return item
