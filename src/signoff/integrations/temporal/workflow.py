"""Workflow-side helpers: submit through the activity, then wait for the decision signal.

Import this module in workflow code (it is deterministic and sandbox-safe). The wait is
a `workflow.wait_condition` on a signal, so no worker is held while a person decides,
and it survives worker restarts: the signal is in the workflow's history.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from signoff.integrations import temporal as names

_RECEIVED = "_signoff_received"
SHORT = timedelta(minutes=2)


def _received() -> dict[int, dict[str, Any]]:
    """The decisions signalled to this workflow so far, registering the handler once."""
    existing: Callable[..., Any] | None = workflow.get_signal_handler(names.SIGNAL)
    if existing is not None and hasattr(existing, _RECEIVED):
        return getattr(existing, _RECEIVED)  # type: ignore[no-any-return]
    received: dict[int, dict[str, Any]] = {}

    def on_decision(data: dict[str, Any]) -> None:
        item_id = data.get("item_id") if isinstance(data, dict) else None
        if isinstance(item_id, int):
            received[item_id] = data

    setattr(on_decision, _RECEIVED, received)
    workflow.set_signal_handler(names.SIGNAL, on_decision)
    return received


async def await_decision(
    item: dict[str, Any],
    *,
    timeout: timedelta | None = None,
    poll: bool = False,
) -> dict[str, Any]:
    """The decided item (as the API returns it) for an item `submit_for_review` returned.

    Waits for the bridge's signal; with `poll=True` runs the heartbeating polling
    activity instead (where no webhook can reach a bridge). Raises `TimeoutError`
    (from `workflow.wait_condition`) when `timeout` passes first.
    """
    item_id = int(item["id"])
    received = _received()  # before any await: a signal already delivered is kept
    if item["state"] in names.SETTLED:
        return item
    if poll:
        result: dict[str, Any] = await workflow.execute_activity(
            names.WAIT,
            item_id,
            start_to_close_timeout=timeout or timedelta(days=365),
            heartbeat_timeout=timedelta(minutes=2),
        )
        return result
    await workflow.wait_condition(lambda: item_id in received, timeout=timeout)
    decided: dict[str, Any] = await workflow.execute_activity(
        names.GET_ITEM, item_id, start_to_close_timeout=SHORT
    )
    return decided


async def request_review(
    workflow_name: str,
    content: dict[str, Any],
    *,
    metadata: dict[str, Any] | None = None,
    timeout: timedelta | None = None,
    poll: bool = False,
) -> dict[str, Any]:
    """Submit an item to the signoff workflow `workflow_name` and return it once decided."""
    item: dict[str, Any] = await workflow.execute_activity(
        names.SUBMIT,
        names.ReviewRequest(workflow=workflow_name, content=content, metadata=metadata),
        start_to_close_timeout=SHORT,
        heartbeat_timeout=timedelta(seconds=30),
        retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
    )
    return await await_decision(item, timeout=timeout, poll=poll)
