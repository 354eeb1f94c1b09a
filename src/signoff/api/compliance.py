"""Compliance: an item's record, legal holds, bulk decision export, the stop switch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, StreamingResponse

from signoff.api import errors as api_errors
from signoff.api import schemas
from signoff.api.deps import AdminDep, CtxDep, require
from signoff.api.workflows import workflow_public
from signoff.domain import compliance as compliance_rules
from signoff.domain.states import Role
from signoff.services import compliance, retention, stop_switch
from signoff.services import users as user_service

router = APIRouter(
    prefix="/api/v1", tags=["compliance"], responses=api_errors.responses(401, 403, 422, 429, 503)
)

#: Records and exports are for admins and auditors (service keys: the admin scope).
AuditorDep = Annotated[user_service.Principal, Depends(require(Role.ADMIN, Role.AUDITOR))]


class JSONLines(JSONResponse):
    """For the OpenAPI document only: the export's body is JSON lines of its model.

    The route itself returns a StreamingResponse; this class makes the schema of each
    line (the response model) appear under `application/x-ndjson`.
    """

    media_type = "application/x-ndjson"


def _json_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Error entries that stay `application/json` on a route whose answer is JSON lines."""
    out = api_errors.responses(*statuses)
    for entry in out.values():
        entry.pop("model")
        entry["content"] = {
            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorPublic"}}
        }
    return out


def _utc(value: datetime | None) -> datetime | None:
    """A query's time, in UTC (one without an offset is read as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.get(
    "/items/{item_id}/record",
    response_model=schemas.ItemRecord,
    responses=api_errors.responses(404),
)
def get_item_record(item_id: schemas.IdPath, ctx: CtxDep, principal: AuditorDep) -> dict[str, Any]:
    """The item's compliance record: input hash, model, configuration, prediction, routing
    and threshold, who saw and decided it, deliveries, and its chain's verification."""
    return compliance.item_record(ctx, principal, item_id)


@router.post(
    "/items/{item_id}/hold",
    response_model=schemas.LegalHoldPublic,
    responses=api_errors.responses(400, 404, 409, 413, 415),
)
def hold_item(
    item_id: schemas.IdPath,
    ctx: CtxDep,
    principal: AdminDep,
    body: schemas.LegalHold | None = None,
) -> dict[str, Any]:
    """Put the item on legal hold: retention never purges its content while it holds."""
    reason = body.reason if body is not None else None
    return retention.set_hold(
        ctx, item_id, principal.actor, hold=True, reason=reason, principal=principal
    )


@router.delete(
    "/items/{item_id}/hold",
    response_model=schemas.LegalHoldPublic,
    responses=api_errors.responses(404, 409),
)
def release_item(item_id: schemas.IdPath, ctx: CtxDep, principal: AdminDep) -> dict[str, Any]:
    """Release the item's legal hold (409 when it has none)."""
    return retention.set_hold(ctx, item_id, principal.actor, hold=False, principal=principal)


@router.get(
    "/workflows/{name}/decisions/export",
    response_model=schemas.DecisionExportRow,
    response_class=JSONLines,
    responses={
        200: {
            "description": "Decided items: one JSON object a line, or CSV with a header",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **_json_errors(401, 403, 404, 422, 503),
    },
)
def export_decisions(
    name: schemas.WorkflowPath,
    ctx: CtxDep,
    principal: AuditorDep,
    format: Annotated[compliance.ExportFormat, Query(description="jsonl or csv")] = (
        compliance.ExportFormat.JSONL
    ),
    since: Annotated[schemas.TimeQuery, Query(description="Decided at or after (ISO 8601)")] = None,
    until: Annotated[schemas.TimeQuery, Query(description="Decided before (ISO 8601)")] = None,
) -> StreamingResponse:
    """Stream the workflow's decisions in a period; CSV cells cannot run as formulas."""
    chunks = compliance.export_decisions(
        ctx, principal, name, fmt=format, since=_utc(since), until=_utc(until)
    )
    media = (
        "text/csv; charset=utf-8"
        if format is compliance.ExportFormat.CSV
        else ("application/x-ndjson")
    )
    filename = f"{name}-decisions.{format.value}"
    return StreamingResponse(
        chunks,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post(
    "/workflows/{name}/pause",
    response_model=schemas.WorkflowPublic,
    responses=api_errors.responses(400, 404, 413, 415),
)
def pause_workflow(
    name: schemas.WorkflowPath, body: schemas.WorkflowPause, ctx: CtxDep, principal: AdminDep
) -> dict[str, Any]:
    """Stop switch: `refuse` makes intake answer 503; `all_to_people` sends every item to
    review with reason `paused`. Audited on the system chain."""
    view = stop_switch.pause_workflow(
        ctx, name, compliance_rules.PauseMode(body.mode), body.reason, principal.actor
    )
    return workflow_public(view)


@router.post(
    "/workflows/{name}/resume",
    response_model=schemas.WorkflowPublic,
    responses=api_errors.responses(404, 409),
)
def resume_workflow(name: schemas.WorkflowPath, ctx: CtxDep, principal: AdminDep) -> dict[str, Any]:
    """Lift the pause (409 when the workflow is not paused). Audited on the system chain."""
    return workflow_public(stop_switch.resume_workflow(ctx, name, principal.actor))
