"""The stop switch (EU AI Act Art. 14(4)(e)): an admin pauses a workflow, and resumes it.

The pause lives on the workflow's row: intake reads it with the workflow on every
request, and workers read it afresh for every batch they route, so a pause reaches
every process within one batch, with nothing cached in memory.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from signoff.domain import audit as audit_rules
from signoff.domain import compliance, errors, limits
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.storage import audit, engine, workflows

log = logging.getLogger(__name__)


def pause_workflow(
    ctx: Context, name: str, mode: compliance.PauseMode, reason: str | None, actor: str
) -> workflow_service.WorkflowView:
    """Pause a workflow (or change the mode or reason of its pause); audited."""
    if reason is not None:
        limits.check_text(reason, "reason")
        if len(reason) > compliance.MAX_REASON:
            raise errors.ValidationFailed(
                f"reason: at most {compliance.MAX_REASON} characters", field="reason"
            )
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        row = _locked(session, name)
        workflows.update_pause(session, row.id, mode=mode.value, reason=reason, by=actor, at=now)
        audit.append_system_event(
            session,
            audit_rules.EventKind.WORKFLOW_PAUSED,
            actor,
            {"workflow": name, "mode": mode.value, "reason": reason},
            now,
        )
    log.warning("action=workflow_paused workflow=%s mode=%s actor=%s", name, mode.value, actor)
    return workflow_service.get_workflow(ctx, name)


def resume_workflow(ctx: Context, name: str, actor: str) -> workflow_service.WorkflowView:
    """Lift a workflow's pause; audited. InvalidTransition when it is not paused."""
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        row = _locked(session, name)
        if row.paused_mode is None:
            raise errors.InvalidTransition(f"workflow {name!r} is not paused")
        workflows.update_pause(session, row.id, mode=None, reason=None, by=None, at=None)
        audit.append_system_event(
            session,
            audit_rules.EventKind.WORKFLOW_RESUMED,
            actor,
            {
                "workflow": name,
                "mode": row.paused_mode,
                "paused_by": row.paused_by,
                "paused_at": row.paused_at.isoformat() if row.paused_at else None,
            },
            now,
        )
    log.warning("action=workflow_resumed workflow=%s actor=%s", name, actor)
    return workflow_service.get_workflow(ctx, name)


def pauses(ctx: Context, workflow_ids: list[int]) -> dict[int, workflow_service.Pause]:
    """The pauses in force on these workflows, read from the database now."""
    if not workflow_ids:
        return {}
    with ctx.sessions() as session:
        rows = workflows.read_pauses(session, workflow_ids)
    out = {}
    for workflow_id, row in rows.items():
        pause = workflow_service.pause_of(row)
        if pause is not None:
            out[workflow_id] = pause
    return out


def _locked(session: Session, name: str) -> Any:
    row = workflows.read_workflow(session, name)
    if row is None:
        raise errors.WorkflowNotFound(f"no workflow named {name!r}", workflow=name)
    return row


def list_paused(ctx: Context) -> list[tuple[str, workflow_service.Pause]]:
    """Every paused workflow's name and pause (for the UI's banner), read now."""
    with ctx.sessions() as session:
        rows = workflows.list_paused(session)
    out = []
    for row in rows:
        pause = workflow_service.pause_of(row)
        if pause is not None:
            out.append((str(row.name), pause))
    return out
