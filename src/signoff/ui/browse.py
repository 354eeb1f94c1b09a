"""Search and browse items by workflow, state, label, decider and date."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from signoff.domain import errors
from signoff.domain.states import ItemState
from signoff.services import items as item_service
from signoff.services import workflows as workflow_service
from signoff.ui import render, security
from signoff.web import CtxDep

router = APIRouter(prefix="/ui", dependencies=[Depends(security.verify_csrf)])

PAGE_SIZE = 50


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise errors.ValidationFailed(f"{field}: use a date like 2026-01-31", field=field) from None


@router.get("/items")
def browse(
    request: Request,
    ctx: CtxDep,
    principal: security.OverseerUI,
    workflow: str | None = None,
    state: str | None = None,
    label: str | None = None,
    decided_by: str | None = None,
    created_from: str | None = None,
    created_to: str | None = None,
    cursor: int | None = Query(default=None, ge=1),
) -> Response:
    """Items newest first, filtered; admins and auditors open any item they may see."""
    filters: dict[str, Any] = {}
    if label:
        filters["label"] = label.strip()
    if decided_by:
        who = decided_by.strip()
        filters["decided_by"] = who if ":" in who or who == "ai" else f"user:{who}"
    start, end = _day(created_from, "created_from"), _day(created_to, "created_to")
    if start:
        filters["created_from"] = datetime.combine(start, time.min, UTC)
    if end:
        filters["created_to"] = datetime.combine(end, time.min, UTC) + timedelta(days=1)
    found, next_cursor = item_service.list_items(
        ctx,
        principal,
        workflow=workflow or None,
        state_filter=state or None,
        cursor=cursor,
        limit=PAGE_SIZE,
        **filters,
    )
    query = {
        "workflow": workflow or "",
        "state": state or "",
        "label": label or "",
        "decided_by": decided_by or "",
        "created_from": created_from or "",
        "created_to": created_to or "",
    }
    names = [v.name for v in workflow_service.list_workflows(ctx) if principal.may_access(v.name)]
    return render.render(
        request,
        "items.html",
        {
            "title": "Items",
            "items": found,
            "query": query,
            "workflows": names,
            "states": [s.value for s in ItemState],
            "next_url": f"/ui/items?{urlencode({**query, 'cursor': next_cursor})}"
            if next_cursor
            else None,
            "first_url": f"/ui/items?{urlencode(query)}" if cursor else None,
        },
    )
