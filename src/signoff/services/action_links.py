"""Action links: decide a review task from a message, without a session.

A link is `/ui/links/<token>?outcome=<outcome>`; the token is `<id>.<nonce>.<mac>`:
the id of an `action_links` row, a random nonce whose hash that row keeps, and an
HMAC (a key derived from the server's secret) over both, so a token signoff did not
make is told apart from one that expired or was used. A link works once, until it
expires, while its task is open; following it (GET) only shows what it would do;
the confirmation form's POST, carrying the token, decides through `review.decide`
as the link's reviewer (services.link_decisions). Links posted to shared channels (Slack, Teams) name nobody:
whoever follows them signs in first, and a workflow may require every reviewer
with a password to sign in (`review.links_require_sign_in`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from signoff.domain import errors
from signoff.domain.states import TaskStatus
from signoff.domain.workflow import WorkflowSpec
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.storage import items, notifications, tasks, users

PATH = "/ui/links/"


def _key(ctx: Context) -> bytes:
    return hmac.new(ctx.settings.signing_secret().encode(), b"action-link", hashlib.sha256).digest()


def _mac(ctx: Context, link_id: int, nonce: str) -> str:
    digest = hmac.new(_key(ctx), f"{link_id}.{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def issue_link(
    session: Session,
    ctx: Context,
    *,
    task_id: int,
    item_id: int,
    user_id: int | None,
    channel: str,
    now: datetime,
) -> str:
    """A new link's token (its row written in the caller's transaction)."""
    nonce = secrets.token_urlsafe(24)
    link_id = notifications.create_action_link(
        session,
        {
            "nonce_hash": _nonce_hash(nonce),
            "task_id": task_id,
            "item_id": item_id,
            "user_id": user_id,
            "channel": channel,
            "created_at": now,
            "expires_at": now + timedelta(hours=ctx.settings.notify.link_hours),
        },
    )
    return f"{link_id}.{nonce}.{_mac(ctx, link_id, nonce)}"


def link_url(ctx: Context, token: str, outcome: str) -> str:
    """The address a message shows for choosing `outcome` with this token."""
    base = ctx.settings.public_url.rstrip("/")
    return f"{base}{PATH}{token}?outcome={quote(outcome, safe='')}"


@dataclass(frozen=True)
class LinkView:
    """What a link would do: decide `task` on `item` with one of `spec`'s outcomes."""

    link: Any
    task: Any
    item: Any
    spec: WorkflowSpec
    reviewer: str | None  # the email of the link's reviewer (None: whoever signs in)
    needs_sign_in: bool


def _read(ctx: Context, token: str) -> Any:
    """The link row a well-formed, authentic token names; LinkRefused otherwise."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 18:
        raise errors.LinkRefused("this is not a link signoff made", reason="invalid")
    link_id, nonce, mac = int(parts[0]), parts[1], parts[2]
    if not hmac.compare_digest(mac.encode(), _mac(ctx, link_id, nonce).encode()):
        raise errors.LinkRefused(
            "this link was altered: it is not one signoff made", reason="invalid"
        )
    with ctx.sessions() as session:
        row = notifications.read_action_link(session, link_id)
    if row is None or not hmac.compare_digest(row.nonce_hash, _nonce_hash(nonce)):
        raise errors.LinkRefused("this is not a link signoff made", reason="invalid")
    return row


def inspect(ctx: Context, token: str) -> LinkView:
    """What the link would do, or LinkRefused (used, expired, task closed, not authentic)."""
    link = _read(ctx, token)
    if link.used_at is not None:
        raise errors.LinkRefused("this link was already used; each link works once", reason="used")
    if link.expires_at <= ctx.clock.now():
        raise errors.LinkRefused("this link has expired", reason="expired")
    with ctx.sessions() as session:
        task = tasks.read_task(session, link.task_id)
        item = items.read_item(session, link.item_id)
        user = users.read_user(session, link.user_id) if link.user_id is not None else None
    if task is None or item is None:
        raise errors.LinkRefused("the task of this link no longer exists", reason="invalid")
    if task.status == TaskStatus.DECIDED.value:
        raise errors.LinkRefused("this task has already been decided", reason="decided")
    if task.status == TaskStatus.CANCELLED.value:
        raise errors.LinkRefused("the item was cancelled; this task is closed", reason="closed")
    spec = workflow_service.get_spec(ctx, item.workflow_id, item.workflow_version)
    needs_sign_in = user is None or bool(
        spec.review.links_require_sign_in and user.password_hash is not None
    )
    return LinkView(link, task, item, spec, user.email if user else None, needs_sign_in)
