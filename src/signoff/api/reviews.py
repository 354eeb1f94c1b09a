"""Reviewers: claim the next task, decide it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from signoff.api import errors as api_errors
from signoff.api import schemas
from signoff.api.deps import AdminDep, CtxDep, ReviewerDep
from signoff.services import assignment, review
from signoff.services import items as item_service

router = APIRouter(
    prefix="/api/v1", tags=["reviews"], responses=api_errors.responses(401, 403, 422, 429, 503)
)

BODY_ERRORS = api_errors.responses(400, 413, 415)


def task_public(
    ctx: Any, principal: Any, task: Any, with_item: bool = True, item: Any = None
) -> dict[str, Any]:
    """The task as the API shows it; with its item (`item`: that row, already read)."""
    body: dict[str, Any] = {
        "id": task.id,
        "item_id": task.item_id,
        "status": task.status,
        "assignee_id": task.assignee_id,
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "outcome": task.outcome,
        "comment": task.comment,
        "decided_at": task.decided_at.isoformat() if task.decided_at else None,
        "group": task.group_name,
        "hold_expires_at": task.hold_expires_at.isoformat() if task.hold_expires_at else None,
        "kind": task.kind,
    }
    if item is not None:
        body["item"] = item_service.public_view(ctx, principal, item)
    elif with_item:
        body["item"] = item_service.get_item(ctx, principal, task.item_id)
    return body


@router.post(
    "/reviews/claim",
    response_model=schemas.TaskPublic,
    responses={
        204: {"description": "No task is waiting for the caller"},
        **api_errors.responses(404),
        **BODY_ERRORS,
    },
)
def claim(
    ctx: CtxDep, principal: ReviewerDep, body: schemas.ClaimRequest | None = None
) -> dict[str, Any] | Response:
    """The next task for the caller (their assigned one first), or 204 when none is waiting."""
    claimed = review.claim_next(ctx, principal, body.workflow if body else None)
    if claimed is None:
        return Response(status_code=204)
    return task_public(ctx, principal, claimed.task, item=claimed.item)


@router.post(
    "/tasks/{task_id}/claim",
    response_model=schemas.TaskPublic,
    responses=api_errors.responses(404, 409),
)
def claim_task(task_id: schemas.IdPath, ctx: CtxDep, principal: ReviewerDep) -> dict[str, Any]:
    """Take this particular task; 409 while another reviewer holds it."""
    return task_public(ctx, principal, review.claim_task(ctx, principal, task_id))


@router.get(
    "/tasks/{task_id}", response_model=schemas.TaskPublic, responses=api_errors.responses(404)
)
def get_task(task_id: schemas.IdPath, ctx: CtxDep, principal: ReviewerDep) -> dict[str, Any]:
    return task_public(ctx, principal, review.get_task(ctx, task_id, principal))


@router.post(
    "/tasks/{task_id}/decision",
    response_model=schemas.TaskPublic,
    responses={**api_errors.responses(404, 409), **BODY_ERRORS},
)
def decide(
    task_id: schemas.IdPath, body: schemas.DecisionCreate, ctx: CtxDep, principal: ReviewerDep
) -> dict[str, Any]:
    """Decide a task; a second decision on the same task answers 409."""
    decided = review.decide_and_read(
        ctx,
        principal,
        task_id,
        review.DecisionInput(
            outcome=body.outcome,
            label=body.label,
            labels=body.labels,
            fields=body.fields,
            entities=body.entities,
            comment=body.comment,
            time_on_task_ms=body.time_on_task_ms,
        ),
    )
    return task_public(ctx, principal, decided.task, item=decided.item)


@router.post(
    "/tasks/{task_id}/assign",
    response_model=schemas.TaskPublic,
    responses={**api_errors.responses(404, 409), **BODY_ERRORS},
)
def assign_task(
    task_id: schemas.IdPath, body: schemas.TaskAssign, ctx: CtxDep, principal: AdminDep
) -> dict[str, Any]:
    """Admins: give the task to `assignee` (reassigning it if held), or null to release it.

    409 when the task is decided or closed; 422 naming `assignee` when that user cannot
    review it (unknown, inactive, not a reviewer, no access, not in the task's group).
    """
    task = assignment.assign_task(ctx, principal, task_id, body.assignee)
    return task_public(ctx, principal, task)
