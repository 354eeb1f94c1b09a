"""`Client` and `AsyncClient`: the same calls, built by `calls`, sent with retries.

The two differ only in how a request is sent (`_send`) and in the loops (`wait`,
`iter_items`) that send several.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import httpx
import tenacity
from pydantic import BaseModel

from signoff.client import calls, models
from signoff.client.calls import ApiError
from signoff.client.retry import RetryPolicy

DEFAULT_TIMEOUT = 30.0

M = TypeVar("M", bound=BaseModel)

__all__ = ["DEFAULT_TIMEOUT", "ApiError", "AsyncClient", "Client", "RetryPolicy"]


def _headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "User-Agent": "signoff-client"}


def _required(answer: M | None) -> M:
    if answer is None:  # only calls built with empty_ok may answer nothing
        raise ApiError(204, "no_content", "the server answered 204", {})
    return answer


class Client:
    """Synchronous client: `Client("http://localhost:8000", api_key="sk_...")`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers=_headers(api_key),
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: calls.Call[M]) -> M | None:
        for attempt in tenacity.Retrying(**self.retry.options(call)):
            with attempt:
                response = self._http.request(call.method, call.path, **call.request_kwargs())
                return calls.read(call, response)
        raise AssertionError("unreachable: tenacity reraises the last error")

    # --- workflows -------------------------------------------------------------------

    def apply_workflow(self, name: str, definition: str | dict[str, Any]) -> models.WorkflowApplied:
        """Create or update a workflow from YAML text or a dict."""
        return _required(self._send(calls.apply_workflow(name, definition)))

    def get_workflow(self, name: str) -> models.WorkflowPublic:
        return _required(self._send(calls.get_workflow(name)))

    def list_workflows(self) -> list[models.WorkflowPublic]:
        return _required(self._send(calls.list_workflows())).workflows

    def calibration(self, workflow: str) -> models.CalibrationPublic:
        """The threshold in force and, in `error_budget` mode, the evidence for it."""
        return _required(self._send(calls.calibration(workflow)))

    # --- items -----------------------------------------------------------------------

    def submit(
        self,
        workflow: str,
        content: dict[str, Any],
        *,
        external_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> models.ItemPublic:
        """Submit one item; pass an idempotency key to make retries safe."""
        call = calls.submit(
            workflow,
            content,
            external_id=external_id,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )
        return _required(self._send(call))

    def submit_batch(
        self, workflow: str, items: list[dict[str, Any]]
    ) -> list[models.ItemSubmitted]:
        """Submit items in one transaction; each dict as `calls.item_body` builds it."""
        return _required(self._send(calls.submit_batch(workflow, items))).items

    def get(self, item_id: int) -> models.ItemPublic:
        return _required(self._send(calls.get_item(item_id)))

    def list_items(
        self,
        *,
        workflow: str | None = None,
        state: str | None = None,
        cursor: int | None = None,
        limit: int = 50,
    ) -> models.ItemList:
        """One page, newest first; pass its `next_cursor` as `cursor` for the next."""
        call = calls.list_items(workflow=workflow, state=state, cursor=cursor, limit=limit)
        return _required(self._send(call))

    def iter_items(
        self, *, workflow: str | None = None, state: str | None = None, page_size: int = 100
    ) -> Iterator[models.ItemPublic]:
        """Every matching item, newest first, fetching page after page."""
        cursor: int | None = None
        while True:
            page = self.list_items(workflow=workflow, state=state, cursor=cursor, limit=page_size)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def wait(
        self, item_id: int, timeout: float = 300.0, poll: float = calls.DEFAULT_POLL_SECONDS
    ) -> models.ItemWaited:
        """Long-poll until the item settles or `timeout` passes (then `timed_out` is true)."""
        loop = calls.WaitLoop(item_id, timeout, poll)
        while True:
            answer = _required(self._send(loop.next_call()))
            if loop.done(answer):
                return answer

    def cancel(self, item_id: int, reason: str | None = None) -> models.ItemPublic:
        return _required(self._send(calls.cancel(item_id, reason)))

    def events(self, item_id: int) -> models.ItemEventList:
        """The item's audit trail and whether its hash chain verifies."""
        return _required(self._send(calls.events(item_id)))

    # --- reviewers -------------------------------------------------------------------

    def claim(self, workflow: str | None = None) -> models.TaskPublic | None:
        """Reviewer: the next task, or None when nothing is waiting."""
        return self._send(calls.claim(workflow))

    def claim_task(self, task_id: int) -> models.TaskPublic:
        """Reviewer: take this task (ApiError 409 while another reviewer holds it)."""
        return _required(self._send(calls.claim_task(task_id)))

    def get_task(self, task_id: int) -> models.TaskPublic:
        return _required(self._send(calls.get_task(task_id)))

    def decide(
        self,
        task_id: int,
        outcome: str,
        *,
        label: str | None = None,
        comment: str | None = None,
        labels: list[str] | None = None,
        entities: list[dict[str, Any]] | None = None,
        time_on_task_ms: int | None = None,
        fields: dict[str, Any] | None = None,
    ) -> models.TaskPublic:
        """Reviewer: decide a task (ApiError 409 when it is already decided)."""
        call = calls.decide(
            task_id,
            outcome,
            label=label,
            labels=labels,
            entities=entities,
            comment=comment,
            time_on_task_ms=time_on_task_ms,
            fields=fields,
        )
        return _required(self._send(call))


class AsyncClient:
    """Asynchronous client with the same calls as `Client`, for orchestrators."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers=_headers(api_key),
            transport=transport,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _send(self, call: calls.Call[M]) -> M | None:
        async for attempt in tenacity.AsyncRetrying(**self.retry.options(call)):
            with attempt:
                response = await self._http.request(call.method, call.path, **call.request_kwargs())
                return calls.read(call, response)
        raise AssertionError("unreachable: tenacity reraises the last error")

    # --- workflows -------------------------------------------------------------------

    async def apply_workflow(
        self, name: str, definition: str | dict[str, Any]
    ) -> models.WorkflowApplied:
        return _required(await self._send(calls.apply_workflow(name, definition)))

    async def get_workflow(self, name: str) -> models.WorkflowPublic:
        return _required(await self._send(calls.get_workflow(name)))

    async def list_workflows(self) -> list[models.WorkflowPublic]:
        return _required(await self._send(calls.list_workflows())).workflows

    async def calibration(self, workflow: str) -> models.CalibrationPublic:
        return _required(await self._send(calls.calibration(workflow)))

    # --- items -----------------------------------------------------------------------

    async def submit(
        self,
        workflow: str,
        content: dict[str, Any],
        *,
        external_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> models.ItemPublic:
        call = calls.submit(
            workflow,
            content,
            external_id=external_id,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )
        return _required(await self._send(call))

    async def submit_batch(
        self, workflow: str, items: list[dict[str, Any]]
    ) -> list[models.ItemSubmitted]:
        return _required(await self._send(calls.submit_batch(workflow, items))).items

    async def get(self, item_id: int) -> models.ItemPublic:
        return _required(await self._send(calls.get_item(item_id)))

    async def list_items(
        self,
        *,
        workflow: str | None = None,
        state: str | None = None,
        cursor: int | None = None,
        limit: int = 50,
    ) -> models.ItemList:
        call = calls.list_items(workflow=workflow, state=state, cursor=cursor, limit=limit)
        return _required(await self._send(call))

    async def iter_items(
        self, *, workflow: str | None = None, state: str | None = None, page_size: int = 100
    ) -> AsyncIterator[models.ItemPublic]:
        cursor: int | None = None
        while True:
            page = await self.list_items(
                workflow=workflow, state=state, cursor=cursor, limit=page_size
            )
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def wait(
        self, item_id: int, timeout: float = 300.0, poll: float = calls.DEFAULT_POLL_SECONDS
    ) -> models.ItemWaited:
        loop = calls.WaitLoop(item_id, timeout, poll)
        while True:
            answer = _required(await self._send(loop.next_call()))
            if loop.done(answer):
                return answer

    async def cancel(self, item_id: int, reason: str | None = None) -> models.ItemPublic:
        return _required(await self._send(calls.cancel(item_id, reason)))

    async def events(self, item_id: int) -> models.ItemEventList:
        return _required(await self._send(calls.events(item_id)))

    # --- reviewers -------------------------------------------------------------------

    async def claim(self, workflow: str | None = None) -> models.TaskPublic | None:
        return await self._send(calls.claim(workflow))

    async def claim_task(self, task_id: int) -> models.TaskPublic:
        return _required(await self._send(calls.claim_task(task_id)))

    async def get_task(self, task_id: int) -> models.TaskPublic:
        return _required(await self._send(calls.get_task(task_id)))

    async def decide(
        self,
        task_id: int,
        outcome: str,
        *,
        label: str | None = None,
        comment: str | None = None,
        labels: list[str] | None = None,
        entities: list[dict[str, Any]] | None = None,
        time_on_task_ms: int | None = None,
        fields: dict[str, Any] | None = None,
    ) -> models.TaskPublic:
        call = calls.decide(
            task_id,
            outcome,
            label=label,
            labels=labels,
            entities=entities,
            comment=comment,
            time_on_task_ms=time_on_task_ms,
            fields=fields,
        )
        return _required(await self._send(call))
