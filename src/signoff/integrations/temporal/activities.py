"""Temporal activities over signoff's HTTP client: submit an item, read it, poll until decided."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

from temporalio import activity

from signoff import client as signoff_client
from signoff.integrations import temporal as names

MAX_WORKFLOW_ID = 255 - len(names.EXTERNAL_ID_PREFIX)


def as_dict(value: Any) -> dict[str, Any]:
    """A client result as a plain JSON dict, whether the client gave a dict or a model."""
    if isinstance(value, dict):
        return value
    dumped = value.model_dump(mode="json")
    if not isinstance(dumped, dict):
        raise TypeError(f"expected an object, got {type(dumped).__name__}")
    return dumped


class SignoffActivities:
    """The activities, bound to one signoff server: register `activities.all()` on a worker."""

    def __init__(self, url: str, api_key: str, *, poll_seconds: float = 20.0) -> None:
        self.url = url
        self.api_key = api_key
        self.poll_seconds = poll_seconds

    def all(self) -> list[Any]:
        return [self.submit_for_review, self.get_item, self.wait_for_decision]

    def _client(self) -> signoff_client.AsyncClient:
        return signoff_client.AsyncClient(self.url, self.api_key)

    @activity.defn(name=names.SUBMIT)
    async def submit_for_review(self, request: names.ReviewRequest) -> dict[str, Any]:
        """Submit the item (once per activity, whatever the retries); the item once routed.

        The external id `temporal:<workflow id>` tells the bridge whom to signal.
        """
        info = activity.info()
        if len(info.workflow_id) > MAX_WORKFLOW_ID:
            raise ValueError(
                f"workflow ids of at most {MAX_WORKFLOW_ID} characters can be reviewed"
            )
        # Stable across retries of this activity, distinct for every run and activity.
        scope = f"{info.workflow_namespace}\n{info.workflow_id}\n{info.workflow_run_id}\n{info.activity_id}"
        key = "temporal:" + hashlib.sha256(scope.encode()).hexdigest()
        async with self._client() as client:
            submitted = as_dict(
                await client.submit(
                    request.workflow,
                    request.content,
                    external_id=names.EXTERNAL_ID_PREFIX + info.workflow_id,
                    metadata=request.metadata,
                    idempotency_key=key,
                )
            )
            return await _until_routed(client, int(submitted["id"]), request.settle_seconds)

    @activity.defn(name=names.GET_ITEM)
    async def get_item(self, item_id: int) -> dict[str, Any]:
        """The item as `GET /api/v1/items/{id}` returns it."""
        async with self._client() as client:
            return as_dict(await client.get(item_id))

    @activity.defn(name=names.WAIT)
    async def wait_for_decision(self, item_id: int) -> dict[str, Any]:
        """Long-poll until the item is decided, heartbeating between polls (the fallback).

        A worker that dies stops heartbeating; Temporal then retries the activity on
        another worker, which simply polls again.
        """
        async with self._client() as client:
            while True:
                item = as_dict(await client.wait(item_id, timeout=self.poll_seconds))
                if item["state"] in names.SETTLED:
                    return item
                activity.heartbeat(item["state"])


async def _until_routed(
    client: signoff_client.AsyncClient, item_id: int, seconds: float
) -> dict[str, Any]:
    """The item once in review or decided, or as it stands after `seconds`."""
    deadline = time.monotonic() + seconds
    delay = 0.05
    while True:
        item = as_dict(await client.get(item_id))
        if item["state"] in names.ROUTED or time.monotonic() >= deadline:
            return item
        activity.heartbeat()
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 1.0)
