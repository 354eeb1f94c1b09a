"""Admins: reviewer groups and their members."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from signoff.api import errors as api_errors
from signoff.api import schemas
from signoff.api.deps import AdminDep, CtxDep
from signoff.services import groups

router = APIRouter(
    prefix="/api/v1/groups",
    tags=["groups"],
    responses=api_errors.responses(401, 403, 422, 429, 503),
)


@router.get("", response_model=schemas.GroupList)
def list_groups(ctx: CtxDep, principal: AdminDep) -> dict[str, Any]:
    """Every group with its members and their skills."""
    return {"groups": [g.to_json() for g in groups.list_groups(ctx, caller_org=principal.org_id)]}


@router.get("/{name}", response_model=schemas.GroupPublic, responses=api_errors.responses(404))
def get_group(name: schemas.GroupPath, ctx: CtxDep, principal: AdminDep) -> dict[str, Any]:
    return groups.get_group(ctx, name, caller_org=principal.org_id).to_json()


@router.post(
    "/{name}/members",
    response_model=schemas.GroupPublic,
    responses={**api_errors.responses(404), **api_errors.responses(400, 413, 415)},
)
def add_members(
    name: schemas.GroupPath, body: schemas.GroupMembersAdd, ctx: CtxDep, principal: AdminDep
) -> dict[str, Any]:
    """Create the group if new and add these members (404 naming an unknown email)."""
    view = groups.add_members(
        ctx,
        name,
        body.members,
        body.skills,
        description=body.description,
        actor=principal.actor,
        caller_org=principal.org_id,
    )
    return view.to_json()


@router.delete(
    "/{name}/members/{email}",
    response_model=schemas.GroupPublic,
    responses=api_errors.responses(404),
)
def remove_member(
    name: schemas.GroupPath, email: str, ctx: CtxDep, principal: AdminDep
) -> dict[str, Any]:
    return groups.remove_member(
        ctx, name, email, actor=principal.actor, caller_org=principal.org_id
    ).to_json()
