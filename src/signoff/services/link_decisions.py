"""Deciding a review task through an action link (see services.action_links)."""

from __future__ import annotations

import logging
from typing import Any

from signoff.domain import errors
from signoff.domain.states import Role
from signoff.services import action_links, review
from signoff.services import users as user_service
from signoff.services.context import Context
from signoff.storage import engine, notifications

log = logging.getLogger(__name__)


def acting_principal(
    ctx: Context, view: action_links.LinkView, signed_in: user_service.Principal | None
) -> user_service.Principal:
    """Who decides through this link: its reviewer, or the signed-in user where one is needed."""
    if view.needs_sign_in:
        if signed_in is None:
            raise errors.SignInRequired()
        if view.link.user_id is not None and signed_in.user_id != view.link.user_id:
            raise errors.Forbidden(f"this link is for {view.reviewer}; sign in as them to use it")
        return signed_in
    principal = user_service.principal_for_user(ctx, view.link.user_id)
    if principal is None or principal.role not in (Role.REVIEWER, Role.ADMIN):
        raise errors.LinkRefused("the reviewer of this link can no longer review", reason="invalid")
    return principal


def decide_with_link(
    ctx: Context,
    token: str,
    outcome: str,
    comment: str | None,
    signed_in: user_service.Principal | None = None,
) -> Any:
    """Decide the link's task with `outcome` (once); returns the decided task.

    The link is spent first, by a guarded update, so two submissions of one link
    cannot both decide; a refusal that changed nothing (a missing comment, an
    unknown outcome) gives the link back, so the reviewer can correct the form.
    """
    view = action_links.inspect(ctx, token)
    principal = acting_principal(ctx, view, signed_in)
    if outcome not in view.spec.review.outcomes:
        raise errors.ValidationFailed(
            f"outcome: must be one of {view.spec.review.outcomes}", field="outcome"
        )
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        if not notifications.use_action_link(session, view.link.id, now):
            raise errors.LinkRefused(
                "this link was already used; each link works once", reason="used"
            )
    decision = review.DecisionInput(
        outcome=outcome, comment=comment, channel=f"{view.link.channel}-link"
    )
    try:
        task = review.decide(ctx, principal, view.task.id, decision)
    except errors.ValidationFailed:
        with engine.transaction(ctx.sessions) as session:
            notifications.release_action_link(session, view.link.id, now)
        raise
    log.info(
        "action=decided_by_link task_id=%s link_id=%s channel=%s",
        view.task.id,
        view.link.id,
        view.link.channel,
    )
    return task
