"""Pages for action links (decide from a message) and each user's notification settings.

A link's GET only shows the item and the outcome it would record; the form's POST
carries the link's token (no session needed) and decides. The token is the form's
only credential, as it is the link's: a page elsewhere cannot forge the POST
without it, and whoever holds it could follow the link anyway, so the token is
single-use, expiring and, where the workflow asks, backed by a sign-in.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from signoff.ai import base as ai_base
from signoff.domain import errors
from signoff.services import action_links, digests, link_decisions
from signoff.services.context import Context
from signoff.ui import render, security
from signoff.web import CtxDep

router = APIRouter(prefix="/ui")
settings_router = APIRouter(prefix="/ui", dependencies=[Depends(security.verify_csrf)])

#: HTTP status of a refused link, by reason: gone for good, or never valid.
REFUSED_STATUS = {"used": 410, "expired": 410, "decided": 410, "closed": 410, "invalid": 404}
REFUSED_TITLES = {
    "used": "This link was already used",
    "expired": "This link has expired",
    "decided": "Already decided",
    "closed": "This task is closed",
    "invalid": "This link does not work",
}
DIGEST_CHOICES = [0, 15, 30, 60, 240, 1440]


def _refused(request: Request, exc: errors.LinkRefused) -> Response:
    return render.render(
        request,
        "link_refused.html",
        {"title": REFUSED_TITLES.get(exc.reason, "This link does not work"), "exc": exc},
        status=REFUSED_STATUS.get(exc.reason, 404),
    )


def _to_sign_in(request: Request, token: str, outcome: str) -> Response:
    target = f"/ui/links/{token}?outcome={quote(outcome, safe='')}"
    return RedirectResponse(f"/ui/login?next={quote(target, safe='')}", 303)


def _confirm_page(
    request: Request,
    ctx: Context,
    view: action_links.LinkView,
    token: str,
    outcome: str,
    *,
    comment: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    text = ai_base.text_of(view.item.content or {}, view.spec.ai.text_field)
    return render.render(
        request,
        "link_confirm.html",
        {
            "title": f"Confirm: {outcome}",
            "token": token,
            "outcome": outcome,
            "outcomes": view.spec.review.outcomes,
            "spec": view.spec,
            "item": view.item,
            "text": text,
            "reviewer": view.reviewer,
            "comment": comment,
            "comment_rules": view.spec.review.require_comment_on,
            "error": error,
        },
        status=status,
    )


@router.get("/links/{token}")
def link_page(request: Request, ctx: CtxDep, token: str, outcome: str = "") -> Response:
    """What the link would do, with a form to confirm it; never decides."""
    signed_in = security.session_principal(request)
    request.state.principal = signed_in
    try:
        view = action_links.inspect(ctx, token)
        link_decisions.acting_principal(ctx, view, signed_in)
    except errors.LinkRefused as exc:
        return _refused(request, exc)
    except errors.SignInRequired:
        return _to_sign_in(request, token, outcome)
    if outcome not in view.spec.review.outcomes:
        outcome = view.spec.review.outcomes[0]
    return _confirm_page(request, ctx, view, token, outcome)


@router.post("/links/{token}")
def use_link(
    request: Request,
    ctx: CtxDep,
    token: str,
    outcome: Annotated[str, Form(max_length=100)] = "",
    comment: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Decide the link's task with the confirmed outcome (the token is the credential)."""
    signed_in = security.session_principal(request)
    request.state.principal = signed_in
    try:
        task = link_decisions.decide_with_link(
            ctx, token, outcome, comment.strip() or None, signed_in
        )
    except errors.LinkRefused as exc:
        return _refused(request, exc)
    except errors.SignInRequired:
        return _to_sign_in(request, token, outcome)
    except errors.ValidationFailed as exc:
        view = action_links.inspect(ctx, token)
        return _confirm_page(
            request, ctx, view, token, outcome, comment=comment, error=exc.detail, status=422
        )
    return render.render(
        request,
        "link_done.html",
        {"title": "Decision recorded", "task": task, "outcome": task.outcome},
    )


@settings_router.get("/settings/notifications")
def notification_settings(request: Request, ctx: CtxDep, principal: security.UserDep) -> Response:
    """The signed-in user's choice: one email per event, or one digest per N minutes."""
    assert principal.user_id is not None
    return render.render(
        request,
        "notification_settings.html",
        {
            "title": "Notification settings",
            "minutes": digests.digest_minutes(ctx, principal.user_id),
            "choices": DIGEST_CHOICES,
        },
    )


@settings_router.post("/settings/notifications")
def save_notification_settings(
    request: Request,
    ctx: CtxDep,
    principal: security.UserDep,
    digest_minutes: Annotated[str, Form(max_length=10)] = "0",
) -> Response:
    minutes = int(digest_minutes) if digest_minutes.isdigit() else -1
    digests.set_digest_minutes(ctx, principal, minutes)
    security.flash(
        request,
        "You get one email per event."
        if minutes == 0
        else f"You get at most one digest email every {minutes} minutes.",
    )
    return RedirectResponse("/ui/settings/notifications", 303)
