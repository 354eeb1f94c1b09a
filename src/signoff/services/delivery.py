"""The outbox sender: deliver messages after commit, retry with backoff, record attempts."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from signoff.domain import audit as audit_rules
from signoff.domain.states import OutboxStatus
from signoff.notify import base as notify
from signoff.notify import posting, webhook
from signoff.outbound import credentials
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.storage import engine, outbox, state, workflows

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
#: The outbox kind of task-event webhooks (signed like decision webhooks).
TASK_WEBHOOK = "notify.webhook"


def webhook_secret(ctx: Context, workflow_id: int | None) -> str:
    """The signing secret: the workflow's own, the configured one, or one derived."""
    if workflow_id is not None:
        with ctx.sessions() as session:
            row = workflows.read_workflow_by_id(session, workflow_id)
        if row is not None:
            spec = workflow_service.get_spec(ctx, row.id, row.current_version)
            name = spec.delivery.secret_env
            # Checked at apply too; a version stored before the check must not read a setting.
            if name and credentials.is_allowed(ctx.settings, name, None):
                secret = ctx.secret(name)
                if secret:
                    return secret
    if ctx.settings.delivery.webhook_secret:
        return ctx.settings.delivery.webhook_secret
    return webhook.derive_secret(ctx.settings.signing_secret())


def _secret_for(ctx: Context, row: Any) -> str | None:
    """The signing secret of a decision or task-event webhook; None for other channels."""
    if row.kind == "webhook":
        return webhook_secret(ctx, row.workflow_id)
    if row.kind == TASK_WEBHOOK:
        data = row.payload.get("data") if isinstance(row.payload, dict) else None
        named = data.get("secret_env") if isinstance(data, dict) else None
        return task_webhook_secret(
            ctx, row.workflow_id, row.target, named if isinstance(named, str) else None
        )
    return None


def task_webhook_secret(
    ctx: Context, workflow_id: int | None, url: str | None, name: str | None = None
) -> str:
    """A task-event webhook's secret: its notify rule's `secret_env`, else the decisions' one.

    `name` is the `secret_env` the message was queued with; without one, the workflow's
    current rule for `url` names it. Either way it must be a credential workflows may use.
    """
    names = [name] if name else []
    if not names and workflow_id is not None:
        with ctx.sessions() as session:
            row = workflows.read_workflow_by_id(session, workflow_id)
        if row is not None:
            spec = workflow_service.get_spec(ctx, row.id, row.current_version)
            names = [r.secret_env for r in spec.notify if r.url == url and r.secret_env]
    host = posting.credential_host(url or "")
    for candidate in names:
        if credentials.is_allowed(ctx.settings, candidate, host):
            secret = ctx.secret(candidate)
            if secret:
                return secret
    return webhook_secret(ctx, workflow_id)


def channel_for(ctx: Context, kind: str) -> notify.Channel | None:
    """The channel for `kind`, built from the settings once per context."""
    channel = ctx.channels.get(kind)
    if channel is None:
        channel = notify.create_channel(kind, ctx.settings)
        if channel is not None:
            ctx.channels[kind] = channel
    return channel


def send_due(ctx: Context, limit: int = 50) -> int:
    """Send the messages whose time has come; returns how many were attempted.

    Each message stands alone: whatever goes wrong with one is recorded on it (or, if
    even that fails, its lease expires and it is tried again) and the rest are sent.
    """
    now = ctx.clock.now()
    lease = now + timedelta(seconds=max(ctx.settings.delivery.timeout_seconds * 3, 30))
    with engine.transaction(ctx.sessions) as session:
        due = outbox.claim_due_messages(session, now, lease, limit)
    for row in due:
        try:
            _send_one(ctx, row)
        except Exception:
            log.exception("action=outbox_record_failed message_id=%s", row.message_id)
    return len(due)


def _send_one(ctx: Context, row: Any) -> None:
    started = ctx.clock.now()
    try:
        result = _attempt(ctx, row)
    except Exception as exc:  # a channel or a bad row must not stop the batch
        log.warning(
            "action=outbox_send_error message_id=%s error=%s", row.message_id, type(exc).__name__
        )
        result = notify.SendResult(False, error=f"{type(exc).__name__}: {exc}"[:500])
    _record(ctx, row, result, started)


def _attempt(ctx: Context, row: Any) -> notify.SendResult:
    channel = channel_for(ctx, row.kind)
    if channel is None:
        return notify.SendResult(False, error=f"no channel for {row.kind}", retryable=False)
    message = notify.Message(
        id=row.message_id,
        kind=row.kind,
        target=row.target,
        payload=row.payload,
        secret=_secret_for(ctx, row),
    )
    return channel.send(message)


def _record(ctx: Context, row: Any, result: notify.SendResult, started: datetime) -> None:
    now = ctx.clock.now()
    attempts = row.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "lease_expires_at": None}
    age = now - row.created_at
    if result.ok:
        values.update(status=OutboxStatus.SENT.value, sent_at=now, last_error=None)
    elif not result.retryable or age >= timedelta(hours=ctx.settings.delivery.max_age_hours):
        values.update(status=OutboxStatus.DEAD.value, last_error=result.error)
    else:
        base = ctx.settings.delivery.base_backoff_seconds * (2 ** min(attempts - 1, 16))
        delay = timedelta(seconds=base * (0.5 + ctx.rng.random()))
        if result.retry_after:
            delay = max(delay, timedelta(seconds=result.retry_after))
        values.update(next_attempt_at=now + min(delay, MAX_BACKOFF), last_error=result.error)
    with engine.transaction(ctx.sessions) as session:
        outbox.create_attempt(
            session,
            {
                "outbox_id": row.id,
                "attempted_at": started,
                "status_code": result.status_code,
                "error": result.error,
                "duration_ms": int((now - started).total_seconds() * 1000),
            },
        )
        outbox.update_message(session, row.id, values)
        if row.item_id is not None and values.get("status") in (
            OutboxStatus.SENT.value,
            OutboxStatus.DEAD.value,
        ):
            state.append_item_event(
                session,
                row.item_id,
                audit_rules.EventKind.DELIVERED
                if result.ok
                else audit_rules.EventKind.DELIVERY_FAILED,
                "system",
                {
                    "message_id": row.message_id,
                    "target": row.target,
                    "attempts": attempts,
                    "status_code": result.status_code,
                    "error": result.error,
                },
                now,
            )
    log.info(
        "action=outbox_send message_id=%s ok=%s status=%s attempts=%s",
        row.message_id,
        result.ok,
        result.status_code,
        attempts,
    )
