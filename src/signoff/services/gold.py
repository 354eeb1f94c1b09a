"""Gold items: import known answers, mix them into queues, score and flag reviewers."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from signoff.domain import audit as audit_rules
from signoff.domain import errors, oversight
from signoff.domain.states import Role
from signoff.domain.workflow import WorkflowSpec
from signoff.services import calibration, intake
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.services.users import Principal
from signoff.storage import audit, engine, users, workflows
from signoff.storage import oversight as queries

log = logging.getLogger(__name__)

#: Most gold items one import takes.
MAX_IMPORT = 10_000


@dataclass(frozen=True)
class GoldItem:
    content: dict[str, Any]
    label: str
    metadata: dict[str, Any] | None = None
    #: Shown like an application's own id, so a gold item need not stand out by lacking one.
    external_id: str | None = None


@dataclass(frozen=True)
class GoldImported:
    workflow: str
    imported: int
    released: int
    waiting: int

    def public(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "imported": self.imported,
            "released": self.released,
            "waiting": self.waiting,
        }


def parse_jsonl(text: str) -> list[GoldItem]:
    """Gold items from JSON lines of {content, label[, metadata, external_id]}; errors name the line."""
    found: list[GoldItem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            raise errors.ValidationFailed(
                f"line {number}: not JSON", field=f"items.{number - 1}", line=number
            ) from None
        found.append(_gold_item(data, f"items.{number - 1}", line=number))
    return found


def _gold_item(data: Any, where: str, line: int | None = None) -> GoldItem:
    extra = {"line": line} if line is not None else {}
    if not isinstance(data, dict):
        raise errors.ValidationFailed(
            f"{where}: must be an object with content and label", field=where, **extra
        )
    unknown = sorted(set(data) - {"content", "label", "metadata", "external_id"})
    if unknown:
        raise errors.ValidationFailed(
            f"{where}.{unknown[0]}: unknown field", field=f"{where}.{unknown[0]}", **extra
        )
    label = data.get("label")
    if not isinstance(label, str) or not label:
        raise errors.ValidationFailed(
            f"{where}.label: must be one of the workflow's labels",
            field=f"{where}.label",
            **extra,
        )
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise errors.ValidationFailed(
            f"{where}.metadata: must be an object", field=f"{where}.metadata", **extra
        )
    external_id = data.get("external_id")
    if external_id is not None and not isinstance(external_id, str):
        raise errors.ValidationFailed(
            f"{where}.external_id: must be a string", field=f"{where}.external_id", **extra
        )
    content = data.get("content")
    if not isinstance(content, dict):
        raise errors.ValidationFailed(
            f"{where}.content: must be a JSON object", field=f"{where}.content", **extra
        )
    return GoldItem(content=content, label=label, metadata=metadata, external_id=external_id)


def import_gold(
    ctx: Context, principal: Principal, workflow: str, entries: list[GoldItem]
) -> GoldImported:
    """Store gold items for `workflow` (admins only) and release what the rate allows now."""
    if principal.role is not Role.ADMIN:
        raise errors.Forbidden("only admins import gold items")
    view = workflow_service.get_workflow(ctx, workflow)
    if not principal.may_access(view.name):
        raise errors.WorkflowNotFound(f"no workflow named {workflow!r}", workflow=workflow)
    if not entries:
        raise errors.ValidationFailed("items: no gold items given", field="items")
    if len(entries) > MAX_IMPORT:
        raise errors.ValidationFailed(
            f"items: at most {MAX_IMPORT} gold items per import", field="items"
        )
    for n, entry in enumerate(entries):
        if entry.label not in view.spec.labels:
            raise errors.ValidationFailed(
                f"items.{n}.label: {entry.label!r} is not one of {view.spec.labels}",
                field=f"items.{n}.label",
            )
        intake.check_item(
            intake.NewItem(
                content=entry.content, metadata=entry.metadata, external_id=entry.external_id
            ),
            ctx.settings.limits.max_item_bytes,
            prefix=f"items.{n}.",
        )
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        queries.create_gold_items(
            session,
            [
                {
                    "workflow_id": view.id,
                    "content": {
                        "content": e.content,
                        "metadata": e.metadata or {},
                        "external_id": e.external_id,
                    },
                    "label": e.label,
                    "created_by": principal.actor,
                    "created_at": now,
                }
                for e in entries
            ],
        )
        audit.append_system_event(
            session,
            audit_rules.EventKind.GOLD_IMPORTED,
            principal.actor,
            {"workflow": view.name, "count": len(entries)},
            now,
        )
    release_due(ctx, view.id, view.spec)
    with ctx.sessions() as session:
        released, waiting = queries.count_gold(session, view.id)
    log.info("action=gold_imported workflow=%s count=%s", view.name, len(entries))
    return GoldImported(view.name, len(entries), released, waiting)


def release_due(ctx: Context, workflow_id: int, spec: WorkflowSpec) -> int:
    """Mix waiting gold items into the queue up to `review.gold_rate` of its tasks."""
    if spec.review.gold_rate <= 0:
        return 0
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        released = _release(session, workflow_id, spec, now)
    if released:
        # The AI step picks them up like any received item.
        ctx.bus.publish("items_received", {"count": released})
    return released


def _release(session: Session, workflow_id: int, spec: WorkflowSpec, now: datetime) -> int:
    real = queries.count_real_tasks_since_gold(session, workflow_id)
    done, _waiting = queries.count_gold(session, workflow_id)
    wanted = oversight.gold_to_release(real, done, spec.review.gold_rate)
    if wanted <= 0:
        return 0
    rows = queries.list_waiting_gold(session, workflow_id, wanted)
    if not rows:
        return 0
    workflow = workflows.read_workflow_by_id(session, workflow_id)
    if workflow is None:
        return 0
    version = int(workflow.current_version)
    released = 0
    # Each item's `received` event names who imported it.
    for actor in dict.fromkeys(r.created_by for r in rows):
        batch = [r for r in rows if r.created_by == actor]
        ids = intake.insert_gold_items(
            session,
            workflow_id,
            version,
            [
                (
                    r.content["content"],
                    r.content.get("metadata") or {},
                    r.content.get("external_id"),
                    r.label,
                )
                for r in batch
            ],
            actor,
            now,
        )
        for row, item_id in zip(batch, ids, strict=True):
            if not queries.mark_released(session, row.id, item_id, now):
                raise errors.StateConflict("a gold item was released twice")
            released += 1
    return released


def gold_accuracy(session: Session, workflow_id: int, user_id: int) -> oversight.Interval:
    """A reviewer's accuracy on a workflow's gold items, with its Wilson interval."""
    rows = queries.list_gold_decisions(session, workflow_id, user_id)
    correct = sum(1 for r in rows if r.final_label == r.gold_label)
    return oversight.wilson(correct, len(rows))


def check_reviewer(
    session: Session, workflow_id: int, spec: WorkflowSpec, user_id: int, now: datetime
) -> bool:
    """Flag the reviewer (once, audited) when their gold accuracy is surely below the floor."""
    floor = spec.review.gold_floor
    if floor is None:
        return False
    accuracy = gold_accuracy(session, workflow_id, user_id)
    if not oversight.below_floor(accuracy, floor):
        return False
    if not queries.create_flag(
        session,
        workflow_id,
        user_id,
        now,
        accuracy=accuracy.rate,
        upper=accuracy.upper,
        n=accuracy.n,
    ):
        return False
    audit.append_system_event(
        session,
        audit_rules.EventKind.REVIEWER_FLAGGED,
        "system:gold",
        {
            "workflow": spec.name,
            "user_id": user_id,
            "gold_floor": floor,
            "accuracy": accuracy.public(),
        },
        now,
    )
    log.warning("action=reviewer_flagged workflow=%s user_id=%s", spec.name, user_id)
    return True


def lift_flag(ctx: Context, principal: Principal, workflow: str, email: str) -> None:
    """An admin who has looked into a flagged reviewer lets their decisions count again.

    While flagged, a reviewer's decisions on the workflow are left out of the threshold's
    evidence and the built-in model's training; lifting the flag (audited) puts them back.
    NotFound when the reviewer is not flagged on the workflow.
    """
    if principal.role is not Role.ADMIN:
        raise errors.Forbidden("only admins lift a reviewer's flag")
    view = workflow_service.get_workflow(ctx, workflow)
    if not principal.may_access(view.name):
        raise errors.WorkflowNotFound(f"no workflow named {workflow!r}", workflow=workflow)
    address = email.strip().lower()
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        user = users.read_user_by_email(session, address)
        if user is None or not queries.delete_flag(session, view.id, user.id):
            raise errors.NotFound(f"{address} is not flagged on {view.name}", field="email")
        # The evidence changed: every process recomputes the workflow's threshold.
        calibration.count_decision(session, view.id)
        audit.append_system_event(
            session,
            audit_rules.EventKind.REVIEWER_FLAG_LIFTED,
            principal.actor,
            {"workflow": view.name, "user_id": user.id},
            now,
        )
    log.info("action=reviewer_flag_lifted workflow=%s user_id=%s", view.name, user.id)
