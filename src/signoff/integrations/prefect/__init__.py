"""signoff reviews as steps of Prefect 3 flows: a waiting task, and a suspend that frees the worker.

`request_review` is a task: it submits the item and waits (async long-poll) for the
decision, holding its worker for the wait; fine for minutes. `suspend_for_review` is
for long waits: called in the flow body it submits the item and suspends the flow
run, which ends the flow's process; signoff's signed decision webhook reaches
`signoff.integrations.prefect.resume_app`, which resumes the run; Prefect reschedules
it from its deployment, the flow runs again from the top and the same call returns
the decided item. Both return the item as `GET /api/v1/items/{id}` shows it.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from prefect import task
from prefect.context import FlowRunContext, TaskRunContext
from prefect.flow_runs import asuspend_flow_run

from signoff import client as signoff_client

EXTERNAL_ID_PREFIX = "prefect:"
SETTLED = frozenset({"approved", "rejected", "cancelled", "archived"})
ROUTED = SETTLED | {"in_review"}


def as_dict(value: Any) -> dict[str, Any]:
    """A client result as a plain JSON dict, whether the client gave a dict or a model."""
    if isinstance(value, dict):
        return value
    dumped = value.model_dump(mode="json")
    if not isinstance(dumped, dict):
        raise TypeError(f"expected an object, got {type(dumped).__name__}")
    return dumped


def connect(url: str | None = None, api_key: str | None = None) -> signoff_client.AsyncClient:
    """An async client for `url`/`api_key`, or `REVIEW_API_URL`/`REVIEW_API_KEY` from the env."""
    url = url or os.environ.get("REVIEW_API_URL")
    api_key = api_key or os.environ.get("REVIEW_API_KEY")
    if not url or not api_key:
        raise ValueError("signoff needs a URL and an API key (REVIEW_API_URL, REVIEW_API_KEY)")
    return signoff_client.AsyncClient(url, api_key)


async def _wait_until(
    client: signoff_client.AsyncClient, item_id: int, states: frozenset[str], seconds: float
) -> dict[str, Any]:
    """The item once its state is in `states`, or as it stands after `seconds`."""
    deadline = time.monotonic() + seconds
    delay = 0.05
    while True:
        item = as_dict(await client.get(item_id))
        if item["state"] in states or time.monotonic() >= deadline:
            return item
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 1.0)


@task(name="signoff-review", retries=2, retry_delay_seconds=5)
async def request_review(
    workflow: str,
    content: dict[str, Any],
    *,
    metadata: dict[str, Any] | None = None,
    external_id: str | None = None,
    timeout: float = 24 * 3600.0,
    url: str | None = None,
    api_key: str | None = None,
) -> dict[str, Any]:
    """Submit an item to `workflow`, wait for its decision, return the decided item.

    The idempotency key is the task run's id, so a retried task finds its item again
    instead of creating a second one. Raises TimeoutError when `timeout` passes first.
    """
    context = TaskRunContext.get()
    key = f"prefect-task:{context.task_run.id}" if context else None
    async with connect(url, api_key) as client:
        submitted = as_dict(
            await client.submit(
                workflow,
                content,
                external_id=external_id,
                metadata=metadata,
                idempotency_key=key,
            )
        )
        item = as_dict(await client.wait(int(submitted["id"]), timeout=timeout))
    if item["state"] not in SETTLED:
        raise TimeoutError(f"item {item['id']} was not decided within {timeout:.0f}s")
    return item


async def suspend_for_review(
    workflow: str,
    content: dict[str, Any],
    *,
    key: str = "review",
    metadata: dict[str, Any] | None = None,
    settle_seconds: float = 10.0,
    timeout: int | None = None,
    url: str | None = None,
    api_key: str | None = None,
) -> dict[str, Any]:
    """In a flow body: submit, and unless the item is decided soon, suspend until it is.

    The flow run must come from a deployment (Prefect reschedules it there on resume).
    `key` names this review within the flow run: give each review of one flow its own.
    An item the routing decides automatically within `settle_seconds` is returned at
    once; otherwise the run suspends (for at most `timeout` seconds, None = no limit)
    and the resumed run returns the decided item from this same call.
    """
    context = FlowRunContext.get()
    if context is None or context.flow_run is None or TaskRunContext.get() is not None:
        raise RuntimeError("suspend_for_review runs in a flow body, not in a task")
    flow_run_id = context.flow_run.id
    async with connect(url, api_key) as client:
        submitted = as_dict(
            await client.submit(
                workflow,
                content,
                external_id=f"{EXTERNAL_ID_PREFIX}{flow_run_id}",
                metadata=metadata,
                idempotency_key=f"prefect-flow:{flow_run_id}:{key}",
            )
        )
        item_id = int(submitted["id"])
        item = await _wait_until(client, item_id, ROUTED, settle_seconds)
    if item["state"] in SETTLED:
        return item
    # The first time, this ends the process (Prefect's Pause); after the resume the
    # orchestrator refuses a second suspension under the same key and the call returns.
    await asuspend_flow_run(key=f"signoff-item-{item_id}", timeout=timeout)
    async with connect(url, api_key) as client:
        item = as_dict(await client.get(item_id))
        if item["state"] not in SETTLED:
            # Resumed by hand before anyone decided: wait here instead (holds the worker).
            item = as_dict(await client.wait(item_id, timeout=float(timeout or 24 * 3600)))
    return item
