"""Workflows: apply (PUT), read, versions, calibration."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from signoff.api.deps import CtxDep, WorkflowReaderDep, WorkflowWriterDep
from signoff.domain import errors
from signoff.services import calibration
from signoff.services import workflows as workflow_service

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])


def workflow_public(view: workflow_service.WorkflowView) -> dict[str, Any]:
    return {
        "name": view.name,
        "version": view.version,
        "spec": view.spec.model_dump(mode="json"),
    }


@router.put("/{name}")
async def apply_workflow(
    name: str, request: Request, ctx: CtxDep, principal: WorkflowWriterDep, response: Response
) -> dict[str, Any]:
    """Create or update a workflow from a YAML or JSON body; each change is a new version."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.ValidationFailed("the body is not valid UTF-8", field="(body)") from None
    # Parsing user YAML is CPU work: it runs in the threadpool, never on the event loop.
    # The text is stored as sent, so the admin page shows the comments it carried.
    view, created = await run_in_threadpool(
        functools.partial(workflow_service.apply_workflow, name=name),
        ctx,
        text,
        principal.actor,
    )
    response.status_code = 201 if created and view.version == 1 else 200
    return {**workflow_public(view), "changed": created}


@router.get("")
def list_workflows(ctx: CtxDep, principal: WorkflowReaderDep) -> dict[str, Any]:
    views = [v for v in workflow_service.list_workflows(ctx) if principal.may_access(v.name)]
    return {"workflows": [workflow_public(v) for v in views]}


@router.get("/{name}")
def get_workflow(name: str, ctx: CtxDep, principal: WorkflowReaderDep) -> dict[str, Any]:
    if not principal.may_access(name):
        raise errors.WorkflowNotFound(f"no workflow named {name!r}")
    return workflow_public(workflow_service.get_workflow(ctx, name))


@router.get("/{name}/versions")
def list_versions(name: str, ctx: CtxDep, principal: WorkflowWriterDep) -> dict[str, Any]:
    versions = workflow_service.list_versions(ctx, name)
    for v in versions:
        v["created_at"] = v["created_at"].isoformat()
    return {"workflow": name, "versions": versions}


@router.get("/{name}/calibration")
def get_calibration(name: str, ctx: CtxDep, principal: WorkflowReaderDep) -> dict[str, Any]:
    """The threshold in force, the evidence behind it and the estimated auto error."""
    if not principal.may_access(name):
        raise errors.WorkflowNotFound(f"no workflow named {name!r}")
    return calibration.calibration_report(ctx, name)
