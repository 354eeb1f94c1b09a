"""What a reviewer's queue shows: counts per workflow, their tasks, unassigned and overdue work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from signoff.ai import base as ai_base
from signoff.domain import reasons as reason_words
from signoff.services import oversight
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.services.users import Principal
from signoff.storage import metrics as queries

#: Characters of an item's text the queue shows.
PREVIEW_CHARS = 160


@dataclass(frozen=True)
class QueueTask:
    """One pending task as the queue lists it."""

    task_id: int
    item_id: int
    workflow: str
    status: str
    ai_label: str | None
    confidence: float | None
    reasons: list[str]
    #: The reasons in words, for people (`reasons` keeps the codes).
    reason_texts: list[str]
    #: The start of the item's text, whitespace collapsed (plain text; escape it when shown).
    preview: str
    created_at: str
    due_at: str | None
    overdue: bool
    #: Who holds the task (email) and the group it is for.
    assignee: str | None = None
    group: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class QueueSnapshot:
    """Counts for the cards and the per-workflow table."""

    mine: int = 0
    open: int = 0
    assigned: int = 0
    overdue: int = 0
    oldest_age_seconds: float | None = None
    workflows: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _visible(ctx: Context, principal: Principal) -> tuple[dict[int, str], list[int]]:
    with ctx.sessions() as session:
        names = queries.workflow_names(session)
    visible = {i: n for i, n in names.items() if principal.may_access(n)}
    return visible, sorted(visible)


def snapshot(ctx: Context, principal: Principal) -> QueueSnapshot:
    """Queue counts across the workflows `principal` may review."""
    now = ctx.clock.now()
    names, ids = _visible(ctx, principal)
    with ctx.sessions() as session:
        rows = queries.queue_by_workflow(session, ids, now)
        mine = queries.count_pending_for(session, ids, principal.user_id or -1)
    per: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row.workflow_id not in names:
            continue
        w = per.setdefault(
            row.workflow_id,
            {
                "workflow": names[row.workflow_id],
                "open": 0,
                "assigned": 0,
                "overdue": 0,
                "oldest": None,
            },
        )
        w[row.status] = int(row.n)
        w["overdue"] += int(row.overdue)
        if row.oldest is not None and (w["oldest"] is None or row.oldest < w["oldest"]):
            w["oldest"] = row.oldest
    snap = QueueSnapshot(mine=mine)
    for wf_id, name in sorted(names.items(), key=lambda kv: kv[1]):
        w = per.get(
            wf_id, {"workflow": name, "open": 0, "assigned": 0, "overdue": 0, "oldest": None}
        )
        oldest = w.pop("oldest")
        w["oldest_age_seconds"] = (now - oldest).total_seconds() if oldest else None
        snap.workflows.append(w)
        snap.open += w["open"]
        snap.assigned += w["assigned"]
        snap.overdue += w["overdue"]
        age = w["oldest_age_seconds"]
        if age is not None and (snap.oldest_age_seconds is None or age > snap.oldest_age_seconds):
            snap.oldest_age_seconds = age
    return snap


def list_tasks(
    ctx: Context,
    principal: Principal,
    *,
    which: str,
    after_task_id: int | None = None,
    limit: int = 25,
) -> list[QueueTask]:
    """Pending tasks: `mine` (held by principal), `unassigned`, `overdue` or `all`; newest first."""
    now = ctx.clock.now()
    names, ids = _visible(ctx, principal)
    options: dict[str, Any] = {"after_task_id": after_task_id, "limit": limit}
    if which == "mine":
        options["assignee_id"] = principal.user_id or -1
    elif which == "unassigned":
        options["unassigned"] = True
    elif which == "overdue":
        options["overdue_at"] = now
    elif which != "all":
        raise ValueError(f"unknown task list {which!r}")
    with ctx.sessions() as session:
        rows = queries.list_pending_tasks(session, ids, **options)
    return [_queue_task(ctx, principal, r, names, now) for r in rows if r.workflow_id in names]


def _queue_task(
    ctx: Context, principal: Principal, r: Any, names: dict[int, str], now: Any
) -> QueueTask:
    # A blind item's reviewer sees neither the AI's label nor why it came to a person.
    hidden = oversight.hides_suggestion(principal, r)
    shown = None if hidden else r
    reasons = [] if shown is None else list(r.route_reasons or [])
    return QueueTask(
        task_id=r.task_id,
        item_id=r.item_id,
        workflow=names.get(r.workflow_id, "?"),
        status=r.status,
        ai_label=None if shown is None else r.ai_label,
        confidence=None if shown is None else r.confidence,
        reasons=reasons,
        reason_texts=reason_words.describe_all(reasons),
        preview=_preview(ctx, r),
        created_at=r.created_at.isoformat(),
        due_at=r.due_at.isoformat() if r.due_at else None,
        overdue=bool(r.due_at is not None and r.due_at < now),
        assignee=r.assignee,
        group=r.group_name,
    )


def _preview(ctx: Context, row: Any) -> str:
    """The first PREVIEW_CHARS characters of the text the AI step read."""
    spec = workflow_service.get_spec(ctx, row.workflow_id, row.workflow_version)
    text = " ".join(ai_base.text_of(row.content or {}, spec.ai.text_field).split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1].rstrip() + "…"
