"""Gold items: admins import items with a known answer for a workflow's queue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from signoff.api import errors as api_errors
from signoff.api import schemas
from signoff.api.deps import AdminDep, CtxDep
from signoff.services import gold

router = APIRouter(
    prefix="/api/v1/workflows",
    tags=["oversight"],
    responses=api_errors.responses(401, 403, 422, 429, 503),
)


@router.post(
    "/{name}/gold",
    status_code=201,
    response_model=schemas.GoldImported,
    responses=api_errors.responses(400, 404, 413, 415),
)
def import_gold(
    name: schemas.WorkflowPath, body: schemas.GoldImport, ctx: CtxDep, principal: AdminDep
) -> dict[str, Any]:
    """Add gold items (content and known label), mixed into queues at `review.gold_rate`."""
    entries = [gold.GoldItem(i.content, i.label, i.metadata, i.external_id) for i in body.items]
    return gold.import_gold(ctx, principal, name, entries).public()
