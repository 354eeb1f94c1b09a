"""The item page: highlighted document, the AI's answer, the review form and the audit timeline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from signoff.ai import base as ai_base
from signoff.domain import audit as audit_rules
from signoff.domain import reasons
from signoff.domain.states import Role, TaskStatus
from signoff.domain.workflow import WorkflowSpec
from signoff.services import compliance, review, users
from signoff.services import items as item_service
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.ui import highlight, render, security
from signoff.ui.render import short_json
from signoff.web import CtxDep

router = APIRouter(prefix="/ui", dependencies=[Depends(security.verify_csrf)])

EVENT_TITLES: dict[str, str] = {
    audit_rules.EventKind.RECEIVED: "Received",
    audit_rules.EventKind.CLAIMED: "Picked up by a worker",
    audit_rules.EventKind.LEASE_RECOVERED: "Recovered from a stalled worker",
    audit_rules.EventKind.ROUTED_TO_REVIEW: "Sent to review",
    audit_rules.EventKind.AUTO_DECIDED: "Decided automatically",
    audit_rules.EventKind.ASSIGNED: "Assigned",
    audit_rules.EventKind.VIEWED: "Viewed",
    audit_rules.EventKind.RELEASED: "Handed back to the queue",
    audit_rules.EventKind.DECIDED: "Decided by a reviewer",
    audit_rules.EventKind.DELIVERED: "Delivered",
    audit_rules.EventKind.DELIVERY_FAILED: "Delivery failed",
    audit_rules.EventKind.CANCELLED: "Cancelled",
    audit_rules.EventKind.ARCHIVED: "Archived",
    audit_rules.EventKind.REMINDED: "Reminded (SLA)",
    audit_rules.EventKind.ESCALATED: "Escalated (SLA)",
    audit_rules.EventKind.TIMED_OUT: "Timed out: no decision in time (SLA)",
    audit_rules.EventKind.CONSENSUS_VOTE: "Voted (consensus)",
    audit_rules.EventKind.CONSENSUS_ESCALATED: "Reviewers disagreed: sent to a tie-break",
}


def _title(event: dict[str, Any]) -> str:
    """The timeline's name for an event; a decision nobody made says so."""
    if event["type"] == audit_rules.EventKind.DECIDED and (event.get("data") or {}).get(
        "default_outcome"
    ):
        return "Decided by default on timeout"
    kind = str(event["type"])
    return EVENT_TITLES.get(kind, kind.replace("_", " ").capitalize())


VERBS = {"approved": "Approve", "rejected": "Reject", "escalated": "Escalate"}
#: Event data shown elsewhere on the timeline row (or not worth showing).
HIDDEN_KEYS = {"from", "to"}


def _details(data: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for key, value in data.items():
        if key in HIDDEN_KEYS or value is None or value == [] or value == {}:
            continue
        if key == "confidence" and isinstance(value, int | float):
            out.append((key, f"{value:.2f}"))
        elif key == "time_on_task_ms" and isinstance(value, int | float):
            out.append(("time on task", render.duration(value / 1000)))
        elif key == "entities" and isinstance(value, list):
            shown = [f"{e.get('type')}: {e.get('text')}" for e in value if isinstance(e, dict)]
            out.append((key, short_json(" · ".join(shown), 300)))
        elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            out.append((key.replace("_", " "), short_json(", ".join(map(str, value)), 300)))
        else:
            out.append((key.replace("_", " "), short_json(value, 300)))
    return out


def timeline(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Audit events as timeline rows: title, actor, time, state change and details."""
    rows = []
    for event in events:
        data = event.get("data") or {}
        override = None
        if event["type"] == audit_rules.EventKind.DECIDED and data.get("override"):
            override = {
                "from": data.get("ai_label"),
                "to": data.get("label"),
                "outcome": data.get("outcome"),
            }
        rows.append(
            {
                "type": event["type"],
                "title": _title(event),
                "actor": event["actor"],
                "at": event["created_at"],
                "seq": event["seq"],
                "hash": event["hash"][:12],
                "from": data.get("from"),
                "to": data.get("to"),
                "override": override,
                "details": _details(data),
            }
        )
    return rows


def _outcome_buttons(spec: WorkflowSpec) -> list[dict[str, str | None]]:
    rejecting = [o for o in spec.review.outcomes if o in spec.review.reject_outcomes]
    approving = [o for o in spec.review.outcomes if o not in spec.review.reject_outcomes]
    approve_key = (
        spec.review.auto_outcome
        if spec.review.auto_outcome in approving
        else (approving[0] if approving else None)
    )
    buttons: list[dict[str, str | None]] = []
    for outcome in spec.review.outcomes:
        key = (
            "a"
            if outcome == approve_key
            else "r"
            if rejecting and outcome == rejecting[0]
            else None
        )
        verb = VERBS.get(outcome, outcome.replace("_", " ").capitalize())
        buttons.append(
            {
                "outcome": outcome,
                "key": key,
                "verb": verb,
                "tone": "reject" if outcome in rejecting else "approve",
            }
        )
    return buttons


def _review_form(
    ctx: Context,
    spec: WorkflowSpec,
    item: dict[str, Any],
    task: dict[str, Any],
    form: dict[str, str] | None,
) -> dict[str, Any]:
    predicted = (item.get("prediction") or {}).get("entities") or []
    ai_label = (item.get("prediction") or {}).get("label")
    entities = []
    for i, e in enumerate(predicted):
        keep = True if form is None else form.get(f"ent_keep_{i}") == "1"
        entities.append(
            {
                "index": i,
                "keep": keep,
                "type": form.get(f"ent_type_{i}", e.get("type")) if form else e.get("type"),
                "text": form.get(f"ent_text_{i}", e.get("text")) if form else e.get("text"),
            }
        )
    now_ms = int(ctx.clock.now().timestamp() * 1000)
    return {
        "task_id": task["id"],
        "due_at": task.get("due_at"),
        "started": (form or {}).get("started") or task_clock(ctx).stamp(task["id"], now_ms),
        "labels": spec.labels,
        "ai_label": ai_label,
        "label": (form or {}).get("label", ai_label or ""),
        "multi": spec.labels_mode == "multi",
        "chosen": chosen_labels(spec, form) if form is not None else [ai_label] if ai_label else [],
        "fields": [
            {"spec": f, "value": (form or {}).get(f"field_{f.name}", "")}
            for f in spec.review.fields
        ],
        "outcomes": _outcome_buttons(spec),
        "entity_types": [e.type for e in spec.entities],
        "entities": entities,
        "new_type": (form or {}).get("ent_new_type", ""),
        "new_text": (form or {}).get("ent_new_text", ""),
        "comment": (form or {}).get("comment", ""),
        "comment_rules": spec.review.require_comment_on,
    }


def chosen_labels(spec: WorkflowSpec, form: dict[str, str]) -> list[str]:
    """The labels a review form picked: one select, or a checkbox per label (multi)."""
    if spec.labels_mode != "multi":
        return [form["label"]] if form.get("label") else []
    return [lab for i, lab in enumerate(spec.labels) if form.get(f"label_{i}") == "1"]


def field_values(spec: WorkflowSpec, form: dict[str, str]) -> dict[str, str]:
    """The review fields' raw form values (validated and typed by the decision service)."""
    return {
        f.name: form[f"field_{f.name}"] for f in spec.review.fields if f"field_{f.name}" in form
    }


def model_terms(item: dict[str, Any]) -> list[str]:
    """The terms the built-in model says led to its label (none for other models)."""
    explanation = (item.get("prediction") or {}).get("explanation") or {}
    terms = explanation.get("terms") if isinstance(explanation, dict) else None
    if not isinstance(terms, list):
        return []
    return [str(t["term"]) for t in terms if isinstance(t, dict) and isinstance(t.get("term"), str)]


def task_clock(ctx: Context) -> security.TaskClock:
    return security.TaskClock(ctx.settings)


def item_response(
    request: Request,
    ctx: Context,
    principal: users.Principal,
    item_id: int,
    *,
    form: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
    record_view: bool = False,
) -> Response:
    """Render the item page; a reviewer holding its task gets the decision form."""
    view = item_service.open_item_page(ctx, principal, item_id, record_view=record_view)
    row, item, trail = view.row, view.item, view.trail
    spec = workflow_service.get_spec(ctx, row.workflow_id, row.workflow_version)
    text = ai_base.text_of(row.content, spec.ai.text_field)
    decision = item.get("decision")
    shown = (
        (decision or {}).get("entities")
        if decision
        else (item.get("prediction") or {}).get("entities")
    )
    types = [e.type for e in spec.entities]
    tasks = [{**t, "assignee": view.emails.get(t["assignee_id"])} for t in trail["tasks"]]
    may_review = principal.role in (Role.REVIEWER, Role.ADMIN)
    mine = next(
        (
            t
            for t in tasks
            if t["status"] == TaskStatus.ASSIGNED.value and t["assignee_id"] == principal.user_id
        ),
        None,
    )
    now = ctx.clock.now()
    lapsed = {tk.id for tk in view.task_rows if review.hold_lapsed(ctx, tk, now)}
    # Consensus: a reviewer with a task of this item (held or decided) takes no other.
    reviewed = any(t["assignee_id"] == principal.user_id for t in tasks)
    for t in tasks:
        t["lapsed"] = t["id"] in lapsed
        t["may_take"] = (
            may_review and not reviewed and (t["status"] == TaskStatus.OPEN.value or t["lapsed"])
        )
    route = item.get("route") or {}
    return render.render(
        request,
        "item.html",
        {
            "title": f"Item {item_id}",
            "item": item,
            "spec": spec,
            "text": text,
            "reasons": reasons.describe_all(route.get("reasons")),
            "segments": highlight.segments(text, shown or [], types, model_terms(item)),
            "legend": [
                (t, highlight.tone_of(t, types))
                for t in dict.fromkeys([str(e.get("type")) for e in shown or []])
            ],
            "other_content": {
                k: v
                for k, v in (row.content or {}).items()
                if not (isinstance(v, str) and v == text)
            },
            "tasks": tasks,
            "timeline": timeline(trail["events"]),
            "verified": trail["verified"],
            "problems": trail["problems"],
            "review": _review_form(ctx, spec, item, mine, form) if mine and may_review else None,
            "error": error,
            "is_admin": principal.role is Role.ADMIN,
            "blind": view.blind,
        },
        status=status,
    )


@router.get("/items/{item_id}")
def item_page(item_id: int, request: Request, ctx: CtxDep, principal: security.UserDep) -> Response:
    """Any role may open an item of a workflow they can see; the view is audited."""
    return item_response(request, ctx, principal, item_id, record_view=True)


@router.get("/items/{item_id}/record")
def item_record_page(
    item_id: int, request: Request, ctx: CtxDep, principal: security.OverseerUI
) -> Response:
    """The printable compliance record (admins and auditors); reading it is not a view."""
    record = compliance.item_record(ctx, principal, item_id)
    return render.render(
        request, "item_record.html", {"title": f"Record of item {item_id}", "r": record}
    )
