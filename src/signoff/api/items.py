"""Items: submit, read, list, wait, cancel, archive, audit trail."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.concurrency import run_in_threadpool

from signoff.api import errors as api_errors
from signoff.api import schemas
from signoff.api.deps import AdminDep, CtxDep, ItemReaderDep, ItemWriterDep
from signoff.domain import errors
from signoff.domain.states import ItemState
from signoff.services import intake, oversight
from signoff.services import items as item_service

router = APIRouter(
    prefix="/api/v1", tags=["items"], responses=api_errors.responses(401, 403, 422, 429, 503)
)

#: Errors of routes that take a JSON body.
BODY_ERRORS = api_errors.responses(400, 413, 415)
STATES = tuple(s.value for s in ItemState)


@router.post(
    "/workflows/{name}/items",
    status_code=201,
    response_model=schemas.ItemPublic,
    responses={
        200: {"model": schemas.ItemPublic, "description": "Idempotent replay: the first item"},
        **api_errors.responses(404),
        **BODY_ERRORS,
    },
)
def submit_item(
    name: schemas.WorkflowPath,
    body: schemas.ItemCreate,
    ctx: CtxDep,
    principal: ItemWriterDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> dict[str, Any]:
    """Submit one item; a repeated Idempotency-Key with the same body returns the first."""
    new = intake.NewItem(
        content=body.content,
        external_id=body.external_id,
        metadata=body.metadata,
        idempotency_key=idempotency_key or body.idempotency_key,
    )
    submitted = intake.submit_item(ctx, name, new, principal.actor)
    if not submitted.created:
        response.status_code = 200
    return item_service.get_item(ctx, principal, submitted.item_id)


@router.post(
    "/workflows/{name}/items/batch",
    status_code=201,
    response_model=schemas.ItemBatchPublic,
    responses={**api_errors.responses(404), **BODY_ERRORS},
)
def submit_batch(
    name: schemas.WorkflowPath, body: schemas.ItemBatchCreate, ctx: CtxDep, principal: ItemWriterDep
) -> dict[str, Any]:
    """Submit up to `limits.max_batch_items` items in one transaction."""
    limit = ctx.settings.limits.max_batch_items
    if len(body.items) > limit:
        raise errors.ValidationFailed(
            f"items: at most {limit} items per batch, got {len(body.items)}", field="items"
        )
    new = [
        intake.NewItem(
            content=i.content,
            external_id=i.external_id,
            metadata=i.metadata,
            idempotency_key=i.idempotency_key,
        )
        for i in body.items
    ]
    results = intake.submit_items(ctx, name, new, principal.actor)
    return {
        "items": [
            {"id": r.item_id, "created": r.created, "state": "received" if r.created else None}
            for r in results
        ]
    }


@router.get("/items", response_model=schemas.ItemList, responses=api_errors.responses(404))
def list_items(
    ctx: CtxDep,
    principal: ItemReaderDep,
    workflow: schemas.WorkflowQuery = None,
    # The service checks the value (naming `state`); the schema lists the choices.
    state: str | None = Query(default=None, json_schema_extra={"enum": STATES}),
    cursor: schemas.CursorQuery = None,
    limit: int = Query(default=50, ge=1, le=500),
) -> dict[str, Any]:
    """Items newest first; pass `next_cursor` back as `cursor` for the next page."""
    found, next_cursor = item_service.list_items(
        ctx, principal, workflow=workflow, state_filter=state, cursor=cursor, limit=limit
    )
    return {"items": found, "next_cursor": next_cursor}


@router.get(
    "/items/{item_id}", response_model=schemas.ItemPublic, responses=api_errors.responses(404)
)
def get_item(item_id: schemas.IdPath, ctx: CtxDep, principal: ItemReaderDep) -> dict[str, Any]:
    return item_service.get_item(ctx, principal, item_id)


@router.get(
    "/items/{item_id}/wait",
    response_model=schemas.ItemWaited,
    responses=api_errors.responses(404),
)
async def wait_for_item(
    item_id: schemas.IdPath,
    ctx: CtxDep,
    principal: ItemReaderDep,
    timeout: float = Query(default=30.0, ge=0, allow_inf_nan=False),
) -> dict[str, Any]:
    """Answer as soon as the item is decided or cancelled, or when `timeout` runs out."""
    timeout = min(timeout, ctx.settings.limits.max_wait_seconds)
    deadline = time.monotonic() + timeout
    while True:
        row = await run_in_threadpool(item_service.get_item_row, ctx, item_id)
        name = await run_in_threadpool(item_service.check_access, ctx, principal, row)
        remaining = deadline - time.monotonic()
        if item_service.is_settled(row) or remaining <= 0:
            body = oversight.view_item(principal, row, item_service.item_public(row, name))
            body["timed_out"] = not item_service.is_settled(row)
            return body
        # Another process may decide it, and it does not publish here: look again each second.
        await ctx.bus.wait_async(min(remaining, 1.0))
        await asyncio.sleep(0)


@router.post(
    "/items/{item_id}/cancel",
    response_model=schemas.ItemPublic,
    responses={**api_errors.responses(404, 409), **BODY_ERRORS},
)
def cancel_item(
    item_id: schemas.IdPath,
    ctx: CtxDep,
    principal: ItemWriterDep,
    body: schemas.ItemCancel | None = None,
) -> dict[str, Any]:
    return item_service.cancel_item(ctx, principal, item_id, body.reason if body else None)


@router.post(
    "/items/{item_id}/archive",
    response_model=schemas.ItemPublic,
    responses=api_errors.responses(404, 409),
)
def archive_item(item_id: schemas.IdPath, ctx: CtxDep, principal: AdminDep) -> dict[str, Any]:
    """Archive a decided item now (409 when it is not approved or rejected)."""
    return item_service.archive_item(ctx, principal, item_id)


@router.get(
    "/items/{item_id}/events",
    response_model=schemas.ItemEventList,
    responses=api_errors.responses(404),
)
def item_events(item_id: schemas.IdPath, ctx: CtxDep, principal: ItemReaderDep) -> dict[str, Any]:
    """The item's audit trail, and whether its hash chain verifies."""
    return item_service.item_events(ctx, principal, item_id)
