"""Dependencies: the service context, who is asking, and role and scope checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from signoff.domain import errors
from signoff.domain.access import Scope
from signoff.domain.states import Role
from signoff.services import users
from signoff.web import CtxDep as CtxDep  # re-exported for the routers


def get_principal(request: Request, ctx: CtxDep) -> users.Principal:
    """The caller, from `Authorization: Bearer <api key>` or a signed-in UI session."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        by_key = users.authenticate_key(ctx, token.strip())
        _count_request(ctx, by_key)
        return by_key
    session_user = getattr(request.state, "session_user_id", None)
    session_token = getattr(request.state, "session_token", None)
    if session_user is not None and session_token is not None:
        principal = users.principal_for_session(ctx, session_user, session_token)
        if principal is not None:
            return principal
    raise errors.Unauthorized("send `Authorization: Bearer <api key>`")


def _count_request(ctx: CtxDep, principal: users.Principal) -> None:
    """RateLimited (429 with Retry-After) once a key has used its requests for the minute."""
    if principal.key_id is None or ctx.requests is None:
        return
    per_minute = principal.rate_limit
    if per_minute is None:
        per_minute = ctx.settings.limits.requests_per_minute
    wait = ctx.requests.take(principal.key_id, per_minute)
    if wait is not None:
        raise errors.RateLimited(
            f"this key may make {per_minute} requests per minute; retry in {wait:.0f} s",
            retry_after=wait,
        )


PrincipalDep = Annotated[users.Principal, Depends(get_principal)]


def require(  # type: ignore[no-untyped-def]
    *roles: Role, scope: Scope = Scope.ADMIN, name_is_workflow: bool = True
):
    """A dependency: users need one of `roles`; service keys need `scope` (or admin).

    A workflow route's `{name}` path parameter (`/workflows/{name}`, not a group's; unless
    `name_is_workflow` is False: a workflow that may not exist yet) and the `?workflow=`
    query parameter name a workflow: a caller restricted to other workflows (or to
    another org) gets the answer a missing workflow gets.
    """

    def check(principal: PrincipalDep, request: Request) -> users.Principal:
        if not principal.allows(scope, roles):
            needs = f"role {' or '.join(r.value for r in roles)}"
            if principal.scopes is not None:
                needs = f"scope {scope.value}"
            raise errors.Forbidden(f"this needs {needs}; {principal.describe()}")
        template = getattr(request.scope.get("route"), "path", "")
        on_workflow = name_is_workflow and "/workflows/{name}" in template
        named = request.path_params.get("name") if on_workflow else None
        for workflow in (named, request.query_params.get("workflow")):
            if workflow is not None and not principal.may_access(workflow):
                raise errors.WorkflowNotFound(f"no workflow named {workflow!r}", workflow=workflow)
        return principal

    return check


# Service keys need the admin scope for everything without a scope of its own.
AdminDep = Annotated[users.Principal, Depends(require(Role.ADMIN))]
ReviewerDep = Annotated[users.Principal, Depends(require(Role.REVIEWER, Role.ADMIN))]
ReaderDep = Annotated[users.Principal, Depends(require(Role.ADMIN, Role.AUDITOR, Role.REVIEWER))]

# Items: submitting and cancelling is an admin's (or an `items` key's); reading is everyone's.
ItemWriterDep = Annotated[users.Principal, Depends(require(Role.ADMIN, scope=Scope.ITEMS))]
ItemReaderDep = Annotated[
    users.Principal,
    Depends(require(Role.ADMIN, Role.AUDITOR, Role.REVIEWER, scope=Scope.ITEMS)),
]
# Workflows: changing them is an admin's (or a `workflows` key's); reading is everyone's.
WorkflowWriterDep = Annotated[users.Principal, Depends(require(Role.ADMIN, scope=Scope.WORKFLOWS))]
# Applying: `{name}` may be a workflow that does not exist yet (the service checks the org).
WorkflowApplierDep = Annotated[
    users.Principal,
    Depends(require(Role.ADMIN, scope=Scope.WORKFLOWS, name_is_workflow=False)),
]
WorkflowReaderDep = Annotated[
    users.Principal,
    Depends(require(Role.ADMIN, Role.AUDITOR, Role.REVIEWER, scope=Scope.WORKFLOWS)),
]
