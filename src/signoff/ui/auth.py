"""Sign-in and sign-out pages."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from signoff.domain import errors
from signoff.services import sign_in, users
from signoff.ui import render, security
from signoff.web import CtxDep

router = APIRouter(prefix="/ui", dependencies=[Depends(security.verify_csrf)])


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form (already signed-in users go to their home page)."""
    principal = security.session_principal(request)
    if principal is not None:
        return RedirectResponse(security.safe_next(next) or render.home_for(principal), 303)
    return render.render(
        request, "login.html", {"title": "Sign in", "next": next or "", "email": "", "error": None}
    )


@router.post("/login")
async def login(
    request: Request,
    ctx: CtxDep,
    email: Annotated[str, Form(max_length=255)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Check the password (throttled after repeated failures) and start a fresh session."""
    remote = request.client.host if request.client else None
    try:
        principal, token = await run_in_threadpool(sign_in.sign_in, ctx, email, password, remote)
    except errors.Unauthorized as exc:
        return render.render(
            request,
            "login.html",
            {
                "title": "Sign in",
                "next": next,
                "email": email,
                "error": exc.detail,
            },
            status=429 if exc.context.get("throttled") else 401,
        )
    # A new session (and CSRF token) on sign-in, so a planted cookie is worth nothing.
    request.session.clear()
    request.session["uid"] = principal.user_id
    request.session["sid"] = token
    request.session["csrf"] = secrets.token_urlsafe(32)
    return RedirectResponse(security.safe_next(next) or render.home_for(principal), 303)


@router.post("/logout")
def logout(request: Request, ctx: CtxDep) -> Response:
    """Sign out: end the session on the server, so a copy of the cookie is worth nothing."""
    token = request.session.get("sid")
    if isinstance(token, str):
        users.end_session(ctx, token)
    request.session.clear()
    security.flash(request, "You are signed out.")
    return RedirectResponse("/ui/login", 303)
