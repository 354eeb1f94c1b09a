"""Dependencies: the service context, who is asking, and role checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from signoff.domain import errors
from signoff.domain.states import Role
from signoff.services import users
from signoff.web import CtxDep


def get_principal(request: Request, ctx: CtxDep) -> users.Principal:
    """The caller, from `Authorization: Bearer <api key>` or a signed-in UI session."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return users.authenticate_key(ctx, token.strip())
    session_user = getattr(request.state, "session_user_id", None)
    if session_user is not None:
        principal = users.principal_for_user(ctx, session_user)
        if principal is not None:
            return principal
    raise errors.Unauthorized("send `Authorization: Bearer <api key>`")


PrincipalDep = Annotated[users.Principal, Depends(get_principal)]


def require(*roles: Role):  # type: ignore[no-untyped-def]
    def check(principal: PrincipalDep) -> users.Principal:
        if principal.role not in roles:
            raise errors.Forbidden(
                f"this needs role {' or '.join(r.value for r in roles)}; you are {principal.role.value}"
            )
        return principal

    return check


AdminDep = Annotated[users.Principal, Depends(require(Role.ADMIN))]
ReviewerDep = Annotated[users.Principal, Depends(require(Role.REVIEWER, Role.ADMIN))]
ReaderDep = Annotated[users.Principal, Depends(require(Role.ADMIN, Role.AUDITOR, Role.REVIEWER))]
