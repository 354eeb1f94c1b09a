"""Server-sent events for the queue page: counts and newly arrived tasks, pushed as they change."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from signoff.services import queue
from signoff.services.context import Context
from signoff.services.users import Principal
from signoff.ui import security
from signoff.web import CtxDep

router = APIRouter(prefix="/ui")

#: Bus events that change what the queue shows.
KINDS = frozenset({"tasks_created", "task_assigned", "items_decided"})
#: Look again this often even without a local event (another process may have changed things).
POLL_SECONDS = 5.0
#: Coalesce bursts of events into one message.
SETTLE_SECONDS = 0.15
KEEPALIVE_SECONDS = 15.0
#: Close after this long; EventSource reconnects by itself (and a shutdown never waits long).
MAX_STREAM_SECONDS = 300.0


def _message(ctx: Context, principal: Principal, after: int) -> tuple[dict[str, Any], int]:
    snap = queue.snapshot(ctx, principal)
    new = queue.list_tasks(ctx, principal, which="unassigned", after_task_id=after, limit=20)
    last = max([after] + [t.task_id for t in new])
    return {"counts": snap.to_json(), "new_tasks": [t.to_json() for t in reversed(new)]}, last


async def queue_events(
    request: Request,
    ctx: Context,
    principal: Principal,
    after: int,
    max_seconds: float = MAX_STREAM_SECONDS,
) -> AsyncIterator[str]:
    """Yield `queue` events whenever the counts or the unassigned tasks change."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def on_event(kind: str, _data: dict[str, Any]) -> None:
        if kind in KINDS:
            loop.call_soon_threadsafe(wake.set)

    unsubscribe = ctx.bus.subscribe(on_event)
    try:
        yield "retry: 2000\n\n"
        last_counts: dict[str, Any] | None = None
        quiet_since = time.monotonic()
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            payload, after = await run_in_threadpool(_message, ctx, principal, after)
            if payload["new_tasks"] or payload["counts"] != last_counts:
                last_counts = payload["counts"]
                quiet_since = time.monotonic()
                yield f"event: queue\ndata: {json.dumps(payload, default=str)}\n\n"
            elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                quiet_since = time.monotonic()
                yield ": keepalive\n\n"
            try:
                await asyncio.wait_for(wake.wait(), POLL_SECONDS)
                await asyncio.sleep(SETTLE_SECONDS)
            except TimeoutError:
                pass
            wake.clear()
            if await request.is_disconnected():
                break
    finally:
        unsubscribe()


@router.get("/stream")
def stream(
    request: Request,
    ctx: CtxDep,
    principal: security.ReviewerUI,
    after: int = Query(default=0, ge=0),
) -> StreamingResponse:
    """The queue page's live feed (EventSource)."""
    return StreamingResponse(
        queue_events(request, ctx, principal, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
