"""Workflows: apply (PUT), read, versions, calibration."""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from signoff.api import errors as api_errors
from signoff.api import schemas
from signoff.api.deps import AdminDep, CtxDep, ReaderDep
from signoff.domain import errors
from signoff.services import calibration
from signoff.services import workflows as workflow_service

router = APIRouter(
    prefix="/api/v1/workflows",
    tags=["workflows"],
    responses=api_errors.responses(401, 403, 422, 503),
)


def workflow_public(view: workflow_service.WorkflowView) -> dict[str, Any]:
    return {
        "name": view.name,
        "version": view.version,
        "spec": view.spec.model_dump(mode="json"),
    }


@router.put(
    "/{name}",
    response_model=schemas.WorkflowApplied,
    responses={
        201: {"model": schemas.WorkflowApplied, "description": "The first version was created"},
        **api_errors.responses(400, 413),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The workflow definition (see docs/workflows.md)",
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def apply_workflow(
    name: str, request: Request, ctx: CtxDep, principal: AdminDep, response: Response
) -> dict[str, Any]:
    """Create or update a workflow from a YAML or JSON body; each change is a new version."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
        data = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise errors.ValidationFailed("the body is not valid UTF-8", field="(body)") from None
    except yaml.YAMLError as exc:
        raise errors.InvalidWorkflow(f"the body is not valid YAML or JSON: {exc}") from None
    if not isinstance(data, dict):
        raise errors.InvalidWorkflow("a workflow must be a mapping with name, labels, ...")
    data.setdefault("name", name)
    if data["name"] != name:
        raise errors.InvalidWorkflow(
            f"name: the body names {data['name']!r} but the URL names {name!r}",
            problems=[{"field": "name", "message": "does not match the URL"}],
        )
    view, created = await run_in_threadpool(
        workflow_service.apply_workflow, ctx, data, principal.actor
    )
    response.status_code = 201 if created and view.version == 1 else 200
    return {**workflow_public(view), "changed": created}


@router.get("", response_model=schemas.WorkflowList)
def list_workflows(ctx: CtxDep, principal: ReaderDep) -> dict[str, Any]:
    views = [v for v in workflow_service.list_workflows(ctx) if principal.may_access(v.name)]
    return {"workflows": [workflow_public(v) for v in views]}


@router.get("/{name}", response_model=schemas.WorkflowPublic, responses=api_errors.responses(404))
def get_workflow(name: str, ctx: CtxDep, principal: ReaderDep) -> dict[str, Any]:
    if not principal.may_access(name):
        raise errors.WorkflowNotFound(f"no workflow named {name!r}")
    return workflow_public(workflow_service.get_workflow(ctx, name))


@router.get(
    "/{name}/versions",
    response_model=schemas.WorkflowVersionList,
    responses=api_errors.responses(404),
)
def list_versions(name: str, ctx: CtxDep, principal: AdminDep) -> dict[str, Any]:
    versions = workflow_service.list_versions(ctx, name)
    for v in versions:
        v["created_at"] = v["created_at"].isoformat()
    return {"workflow": name, "versions": versions}


@router.get(
    "/{name}/calibration",
    response_model=schemas.CalibrationPublic,
    responses=api_errors.responses(404),
)
def get_calibration(name: str, ctx: CtxDep, principal: ReaderDep) -> dict[str, Any]:
    """The threshold in force, the evidence behind it and the estimated auto error."""
    if not principal.may_access(name):
        raise errors.WorkflowNotFound(f"no workflow named {name!r}")
    return calibration.calibration_report(ctx, name)
