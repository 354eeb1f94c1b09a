"""Workflows: apply (PUT), read, versions, calibration."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from signoff.api import errors as api_errors
from signoff.api import schemas
from signoff.api.deps import CtxDep, WorkflowApplierDep, WorkflowReaderDep, WorkflowWriterDep
from signoff.domain import errors
from signoff.domain import workflow as wf
from signoff.services import calibration
from signoff.services import orgs as org_service
from signoff.services import workflows as workflow_service

router = APIRouter(
    prefix="/api/v1/workflows",
    tags=["workflows"],
    responses=api_errors.responses(401, 403, 422, 429, 503),
)


def workflow_public(view: workflow_service.WorkflowView) -> dict[str, Any]:
    return {
        "name": view.name,
        "version": view.version,
        "spec": view.spec.model_dump(mode="json"),
        "paused": view.pause is not None,
        "pause": view.pause.public() if view.pause is not None else None,
    }


def _definition_schema() -> dict[str, Any]:
    """The workflow definition's JSON schema, inlined (OpenAPI resolves `$ref` elsewhere)."""
    schema = wf.WorkflowSpec.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    body: dict[str, Any] = inline(schema)
    # The URL names the workflow; the body may leave `name` out.
    body["required"] = [field for field in body.get("required", []) if field != "name"]
    return body


@router.put(
    "/{name}",
    response_model=schemas.WorkflowApplied,
    responses={
        201: {"model": schemas.WorkflowApplied, "description": "The first version was created"},
        **api_errors.responses(400, 404, 413),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The workflow definition (see docs/workflows.md)",
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": _definition_schema()},
            },
        }
    },
)
async def apply_workflow(
    name: schemas.WorkflowPath,
    request: Request,
    ctx: CtxDep,
    principal: WorkflowApplierDep,
    response: Response,
    org: Annotated[
        str | None,
        Query(
            max_length=64,
            description="The org a new workflow belongs to (platform callers only; "
            "default: the caller's org, or `default`)",
        ),
    ] = None,
) -> dict[str, Any]:
    """Create or update a workflow from a YAML or JSON body; each change is a new version."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.ValidationFailed("the body is not valid UTF-8", field="(body)") from None
    # Parsing user YAML is CPU work: it runs in the threadpool, never on the event loop.
    # The text is stored as sent, so the admin page shows the comments it carried.
    if principal.workflows is not None and name not in principal.workflows:
        # Kept to some workflows: any other name, new or not, is not found for this caller.
        raise errors.WorkflowNotFound(f"no workflow named {name!r}", workflow=name)
    org_id = principal.org_id
    if org is not None:
        if not principal.is_platform:
            raise errors.Forbidden("org: only platform admins choose a workflow's org", field="org")
        org_id = await run_in_threadpool(org_service.org_id, ctx, org)
    view, created = await run_in_threadpool(
        functools.partial(
            workflow_service.apply_workflow, name=name, org_id=org_id, caller_org=principal.org_id
        ),
        ctx,
        text,
        principal.actor,
    )
    response.status_code = 201 if created and view.version == 1 else 200
    return {**workflow_public(view), "changed": created}


@router.get("", response_model=schemas.WorkflowList)
def list_workflows(ctx: CtxDep, principal: WorkflowReaderDep) -> dict[str, Any]:
    views = [v for v in workflow_service.list_workflows(ctx) if principal.may_access(v.name)]
    return {"workflows": [workflow_public(v) for v in views]}


@router.get("/{name}", response_model=schemas.WorkflowPublic, responses=api_errors.responses(404))
def get_workflow(
    name: schemas.WorkflowPath, ctx: CtxDep, principal: WorkflowReaderDep
) -> dict[str, Any]:
    if not principal.may_access(name):
        raise errors.WorkflowNotFound(f"no workflow named {name!r}")
    return workflow_public(workflow_service.get_workflow(ctx, name))


@router.get(
    "/{name}/versions",
    response_model=schemas.WorkflowVersionList,
    responses=api_errors.responses(404),
)
def list_versions(
    name: schemas.WorkflowPath, ctx: CtxDep, principal: WorkflowWriterDep
) -> dict[str, Any]:
    versions = workflow_service.list_versions(ctx, name)
    for v in versions:
        v["created_at"] = v["created_at"].isoformat()
    return {"workflow": name, "versions": versions}


@router.get(
    "/{name}/calibration",
    response_model=schemas.CalibrationPublic,
    responses=api_errors.responses(404),
)
def get_calibration(
    name: schemas.WorkflowPath, ctx: CtxDep, principal: WorkflowReaderDep
) -> dict[str, Any]:
    """The threshold in force, the evidence behind it and the estimated auto error."""
    if not principal.may_access(name):
        raise errors.WorkflowNotFound(f"no workflow named {name!r}")
    return calibration.calibration_report(ctx, name)
