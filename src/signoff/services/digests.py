"""Digests: a reviewer may take one email per N minutes instead of one per event.

`notifications.messages_for` parks a digest reader's messages in `digest_entries`;
`send_due_digests`, run by the workers, turns a user's waiting entries into one
`notify.email` outbox row once the oldest has waited N minutes. The user's
preference row is the guard: one process wins each round, so no entry is sent
twice however many workers run.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from signoff.domain import errors
from signoff.domain.states import OutboxStatus
from signoff.services.context import Context
from signoff.services.users import Principal
from signoff.storage import engine, notifications, users

log = logging.getLogger(__name__)

#: Longest digest period a reviewer may choose (a day).
MAX_DIGEST_MINUTES = 1440


def digest_minutes(ctx: Context, user_id: int) -> int:
    """The user's digest period in minutes (0: one email per event)."""
    with ctx.sessions() as session:
        row = notifications.read_preferences(session, user_id)
    return int(row.digest_minutes) if row is not None else 0


def set_digest_minutes(ctx: Context, principal: Principal, minutes: int) -> None:
    """Choose one email per `minutes` (0: one per event) for the signed-in user."""
    if principal.user_id is None:
        raise errors.Forbidden("only users have notification settings")
    if not 0 <= minutes <= MAX_DIGEST_MINUTES:
        raise errors.ValidationFailed(
            f"digest_minutes: between 0 and {MAX_DIGEST_MINUTES}", field="digest_minutes"
        )
    with engine.transaction(ctx.sessions) as session:
        notifications.upsert_preferences(session, principal.user_id, minutes, ctx.clock.now())
    log.info("action=digest_set user_id=%s minutes=%s", principal.user_id, minutes)


def send_due_digests(ctx: Context) -> int:
    """Queue the digests that are due (one outbox email per user); returns how many."""
    now = ctx.clock.now()
    with ctx.sessions() as session:
        waiting = notifications.list_digest_users(session)
    queued = 0
    for row in waiting:
        period = timedelta(minutes=int(row.digest_minutes or 0))
        if row.oldest > now - period:
            continue
        try:
            queued += _queue_digest(ctx, row.user_id, int(row.digest_minutes or 0), period)
        except Exception:  # one user's digest must not hold back the others'
            log.exception("action=digest_failed user_id=%s", row.user_id)
    return queued


def _queue_digest(ctx: Context, user_id: int, minutes: int, period: timedelta) -> int:
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        user = users.read_user(session, user_id)
        if notifications.read_preferences(session, user_id) is None:
            notifications.upsert_preferences(session, user_id, minutes, now)
        if not notifications.take_digest_turn(session, user_id, now, now - period):
            return 0
        entries = notifications.take_digest_entries(session, user_id, now)
        if not entries or user is None or not user.active:
            return 0
        notifications.create_outbox_message(
            session,
            {
                "kind": "notify.email",
                "item_id": None,
                "workflow_id": None,
                "target": user.email,
                "message_id": f"msg_{uuid.uuid4().hex}",
                "payload": {
                    "type": "digest",
                    "minutes": minutes,
                    "entries": [e.payload for e in entries],
                },
                "status": OutboxStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            },
        )
    log.info("action=digest_queued user_id=%s entries=%s", user_id, len(entries))
    return 1
