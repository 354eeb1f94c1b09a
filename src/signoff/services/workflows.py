"""Apply and read workflow definitions; every apply that changes something is a version."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from signoff.domain import audit as audit_rules
from signoff.domain import compliance, errors
from signoff.domain import workflow as wf
from signoff.services import orgs, outbound_checks
from signoff.services.context import Context
from signoff.storage import audit, engine, rows, workflows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkflowView:
    id: int
    name: str
    version: int
    spec: wf.WorkflowSpec
    source: str
    #: The stop switch, read with the workflow row (never cached): None while running.
    pause: Pause | None = None
    #: The org that owns the workflow (and its items and tasks).
    org_id: int | None = None


@dataclass(frozen=True)
class Pause:
    """An admin's pause of a workflow: what it does, why, who and when."""

    mode: compliance.PauseMode
    reason: str | None
    by: str | None
    at: datetime | None

    def public(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "reason": self.reason,
            "by": self.by,
            "at": self.at.isoformat() if self.at else None,
        }


def pause_of(row: rows.WorkflowRow) -> Pause | None:
    """The pause recorded on a workflow row, or None."""
    if row.paused_mode is None:
        return None
    return Pause(
        compliance.PauseMode(row.paused_mode), row.paused_reason, row.paused_by, row.paused_at
    )


def apply_workflow(
    ctx: Context,
    source: str | dict[str, Any],
    actor: str,
    *,
    name: str | None = None,
    org_id: int | None = None,
    caller_org: int | None = None,
) -> tuple[WorkflowView, bool]:
    """Validate (the provider must build) and store a definition; returns the view and
    whether a version was made.

    Text (YAML or JSON) is stored as sent, comments included. With `name`, a
    definition without one takes it, and one that names another workflow is refused.
    A new workflow belongs to `org_id` (None: the default org); a workflow keeps its
    org. `caller_org` is the org of a caller confined to one: another org's workflow
    is not found for it.
    """
    if name is not None:
        wf.check_workflow_name(name)
    if isinstance(source, str):
        data = wf.load_workflow_data(source)
        text: str | None = source
    else:
        data = source
        text = None
    if name is not None and isinstance(data, dict):
        data = {"name": name, **data}
        if data["name"] != name:
            raise errors.InvalidWorkflow(
                f"name: the definition names {data['name']!r}, not {name!r}",
                field="name",
                problems=[{"field": "name", "message": "does not match the workflow's name"}],
            )
    spec = wf.parse_workflow(data)
    if text is None:
        text = wf.dump_workflow(spec)
    # Outside the transaction: building a provider may import user code.
    outbound_checks.check_workflow(ctx, spec)
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        row = workflows.read_workflow(session, spec.name)
        if row is not None and caller_org is not None and row.org_id != caller_org:
            raise errors.ValidationFailed(
                f"name: {spec.name!r} is taken: workflow names are unique across orgs",
                field="name",
            )
        if row is not None and org_id is not None and row.org_id != org_id:
            raise errors.ValidationFailed(
                f"org: workflow {spec.name!r} belongs to another org; a workflow keeps its org",
                field="org",
            )
        if row is None:
            owner = org_id if org_id is not None else orgs.default_org_id(session)
            workflow_id = workflows.create_workflow(session, spec.name, now, owner)
            version = 1
        else:
            owner = row.org_id
            workflow_id = row.id
            current = workflows.read_version(session, row.id, row.current_version)
            if current is not None and current.spec == spec.model_dump(mode="json"):
                return WorkflowView(
                    row.id, spec.name, row.current_version, spec, current.source, org_id=owner
                ), False
            version = row.current_version + 1
        workflows.create_version(
            session, workflow_id, version, spec.model_dump(mode="json"), text, actor, now
        )
        audit.append_system_event(
            session,
            audit_rules.EventKind.WORKFLOW_APPLIED,
            actor,
            {"workflow": spec.name, "version": version},
            now,
        )
    return WorkflowView(workflow_id, spec.name, version, spec, text, org_id=owner), True


def get_workflow(ctx: Context, name: str) -> WorkflowView:
    """The current version of a workflow, or WorkflowNotFound."""
    with ctx.sessions() as session:
        row = workflows.read_workflow(session, name)
        if row is None:
            raise errors.WorkflowNotFound(f"no workflow named {name!r}", workflow=name)
        version = workflows.read_version(session, row.id, row.current_version)
        assert version is not None
        return WorkflowView(
            row.id,
            row.name,
            row.current_version,
            _spec(ctx, row.id, row.current_version, version.spec),
            version.source,
            pause_of(row),
            row.org_id,
        )


def get_spec(ctx: Context, workflow_id: int, version: int) -> wf.WorkflowSpec:
    """The spec an item ran under (cached on the context: versions never change)."""
    with ctx.caches.lock:
        cached = ctx.caches.specs.get((workflow_id, version))
    if cached is not None:
        return cached
    with ctx.sessions() as session:
        row = workflows.read_version(session, workflow_id, version)
        if row is None:
            raise errors.WorkflowNotFound(f"workflow {workflow_id} has no version {version}")
        return _spec(ctx, workflow_id, version, row.spec)


def _spec(ctx: Context, workflow_id: int, version: int, data: dict[str, Any]) -> wf.WorkflowSpec:
    key = (workflow_id, version)
    with ctx.caches.lock:
        cached = ctx.caches.specs.get(key)
    if cached is None:
        try:
            cached = wf.parse_workflow(data)
        except errors.InvalidWorkflow as exc:
            # Stored under older, looser rules: say so, and what to do, for this one only.
            raise errors.InvalidWorkflow(
                f"stored version {version} of this workflow no longer passes validation "
                f"({exc.detail}); apply a corrected definition",
                field=exc.context.get("field"),
            ) from None
        with ctx.caches.lock:
            cached = ctx.caches.specs.setdefault(key, cached)
    return cached


def list_workflows(ctx: Context) -> list[WorkflowView]:
    """Every workflow whose current version is valid; one that is not never hides the rest."""
    with ctx.sessions() as session:
        names = [r.name for r in workflows.list_workflows(session)]
    views = []
    for name in names:
        try:
            views.append(get_workflow(ctx, name))
        except errors.InvalidWorkflow as exc:
            log.warning("action=workflow_unreadable workflow=%s detail=%s", name, exc.detail)
    return views


def list_versions(ctx: Context, name: str) -> list[dict[str, Any]]:
    view = get_workflow(ctx, name)
    with ctx.sessions() as session:
        return [
            {
                "version": r.version,
                "created_at": r.created_at,
                "created_by": r.created_by,
                "source": r.source,
            }
            for r in workflows.list_versions(session, view.id)
        ]


def workflow_name(ctx: Context, workflow_id: int, session: Session | None = None) -> str:
    """A workflow's name (cached on the context: names never change); `session` reads it
    within the caller's transaction on a miss."""
    with ctx.caches.lock:
        cached = ctx.caches.names.get(workflow_id)
    if cached is not None:
        return cached
    if session is None:
        with ctx.sessions() as own:
            row = workflows.read_workflow_by_id(own, workflow_id)
    else:
        row = workflows.read_workflow_by_id(session, workflow_id)
    if row is None:
        raise errors.WorkflowNotFound()
    with ctx.caches.lock:
        ctx.caches.names[workflow_id] = str(row.name)
    return str(row.name)
