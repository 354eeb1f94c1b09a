"""The reviewer's flow: the queue, start reviewing, decide or skip, then straight to the next."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from signoff.ai import base as ai_base
from signoff.domain import errors
from signoff.domain.states import Role
from signoff.services import assignment, queue, review
from signoff.services import items as item_service
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.services.users import Principal
from signoff.ui import items as item_pages
from signoff.ui import render, security
from signoff.web import CtxDep

router = APIRouter(prefix="/ui", dependencies=[Depends(security.verify_csrf)])

MAX_SKIPPED = 50


@router.get("/queue")
def queue_page(request: Request, ctx: CtxDep, principal: security.ReviewerUI) -> Response:
    """Counts per workflow, the reviewer's tasks, unassigned and overdue work."""
    snap = queue.snapshot(ctx, principal)
    unassigned = queue.list_tasks(ctx, principal, which="unassigned")
    is_admin = principal.role is Role.ADMIN
    return render.render(
        request,
        "queue.html",
        {
            "title": "Review queue",
            "snap": snap,
            "mine": queue.list_tasks(ctx, principal, which="mine"),
            "unassigned": unassigned,
            "overdue": queue.list_tasks(ctx, principal, which="overdue"),
            "last_task_id": max((t.task_id for t in unassigned), default=0),
            "chosen_workflow": request.session.get("review_workflow") or "",
            "is_admin": is_admin,
            "held": [
                t for t in queue.list_tasks(ctx, principal, which="all") if t.status == "assigned"
            ]
            if is_admin
            else [],
        },
    )


@router.get("/my-tasks")
def my_tasks_page(request: Request, ctx: CtxDep, principal: security.ReviewerUI) -> Response:
    """The tasks the reviewer holds, with their due times: assigned to them or taken."""
    return render.render(
        request,
        "my_tasks.html",
        {
            "title": "My tasks",
            "mine": queue.list_tasks(ctx, principal, which="mine", limit=200),
        },
    )


@router.post("/tasks/{task_id}/assign")
def assign_task(
    task_id: int,
    request: Request,
    ctx: CtxDep,
    principal: security.AdminUI,
    form: security.FormDep,
) -> Response:
    """Admins: assign, reassign or release a task, then back to where they were."""
    release = form.get("action") == "release" or not form.get("assignee", "").strip()
    who = None if release else form["assignee"].strip()
    try:
        task = assignment.assign_task(ctx, principal, task_id, who)
    except (errors.ValidationFailed, errors.TaskAlreadyDecided, errors.InvalidTransition) as exc:
        security.flash(request, exc.detail, "warning")
        task = review.get_task(ctx, task_id, principal)
    else:
        security.flash(
            request,
            f"Task {task_id} released to the queue."
            if who is None
            else f"Task {task_id} assigned to {who}.",
            "success",
        )
    back = form.get("next") or ""
    target = back if back.startswith("/ui/") else f"/ui/items/{task.item_id}"
    return RedirectResponse(target, 303)


def _skipped(request: Request) -> list[int]:
    return [int(t) for t in request.session.get("skip") or [] if isinstance(t, int)]


def _next_task(request: Request, ctx: Context, principal: Principal) -> Response:
    """Claim the next task and open it, or go back to the queue when none is waiting."""
    workflow = request.session.get("review_workflow") or None
    skipped = _skipped(request)
    task = review.claim_next_task(ctx, principal, workflow, skip=skipped)
    if task is None and skipped:
        request.session["skip"] = []
        security.flash(
            request,
            f"Only the {len(skipped)} task(s) you skipped are left; they are back in the queue.",
        )
        return RedirectResponse("/ui/queue", 303)
    if task is None:
        security.flash(request, "Nothing is waiting for review. Well done.", "success")
        return RedirectResponse("/ui/queue", 303)
    return RedirectResponse(f"/ui/items/{task.item_id}", 303)


@router.post("/review/next")
def start_reviewing(
    request: Request, ctx: CtxDep, principal: security.ReviewerUI, form: security.FormDep
) -> Response:
    """Start (or continue) reviewing, optionally in one workflow."""
    if "workflow" in form:
        request.session["review_workflow"] = form["workflow"] or None
    return _next_task(request, ctx, principal)


@router.post("/tasks/{task_id}/claim")
def take_task(
    task_id: int, request: Request, ctx: CtxDep, principal: security.ReviewerUI
) -> Response:
    """Review this particular item: its task becomes the caller's, unless someone holds it."""
    try:
        task = review.claim_task(ctx, principal, task_id)
    except errors.TaskClaimed as exc:
        security.flash(request, f"{exc.detail}; you cannot decide it now.", "warning")
        task = review.get_task(ctx, task_id, principal)
    except errors.TaskAlreadyDecided:
        security.flash(request, "This item was already decided.", "warning")
        task = review.get_task(ctx, task_id, principal)
    return RedirectResponse(f"/ui/items/{task.item_id}", 303)


@router.post("/tasks/{task_id}/skip")
def skip_task(
    task_id: int, request: Request, ctx: CtxDep, principal: security.ReviewerUI
) -> Response:
    """Hand the task back to the queue and move on to another one."""
    review.release_task(ctx, principal, task_id)
    request.session["skip"] = (_skipped(request) + [task_id])[-MAX_SKIPPED:]
    return _next_task(request, ctx, principal)


def parse_entities(
    form: dict[str, str], predicted: list[dict[str, Any]], text: str
) -> list[dict[str, Any]] | None:
    """The entities the form asks for, or None when they equal the AI's."""
    chosen: list[dict[str, Any]] = []
    for i, original in enumerate(predicted):
        if form.get(f"ent_keep_{i}") != "1":
            continue
        kind = form.get(f"ent_type_{i}", original.get("type"))
        value = form.get(f"ent_text_{i}", original.get("text"))
        if kind == original.get("type") and value == original.get("text"):
            chosen.append(original)
        elif value:
            chosen.append(_located(str(kind), value.strip(), text))
    new_text = form.get("ent_new_text", "").strip()
    if new_text and form.get("ent_new_type"):
        chosen.append(_located(form["ent_new_type"], new_text, text))
    return None if chosen == predicted else chosen


def _located(kind: str, value: str, text: str) -> dict[str, Any]:
    start = text.find(value)
    if start < 0:
        return {"type": kind, "text": value}
    return {"type": kind, "text": value, "start": start, "end": start + len(value)}


@router.post("/tasks/{task_id}/decide")
def decide_task(
    task_id: int,
    request: Request,
    ctx: CtxDep,
    principal: security.ReviewerUI,
    form: security.FormDep,
) -> Response:
    """Record the decision, then open the next task; a refused decision re-shows the form."""
    task = review.get_task(ctx, task_id, principal)
    row = item_service.get_item_row(ctx, task.item_id)
    item_service.check_access(ctx, principal, row)
    spec = workflow_service.get_spec(ctx, row.workflow_id, row.workflow_version)
    text = ai_base.text_of(row.content, spec.ai.text_field)
    predicted = list((row.prediction or {}).get("entities") or [])
    now_ms = int(ctx.clock.now().timestamp() * 1000)
    decision = review.DecisionInput(
        outcome=form.get("outcome", ""),
        labels=item_pages.chosen_labels(spec, form) or None,
        fields=item_pages.field_values(spec, form),
        entities=parse_entities(form, predicted, text),
        comment=form.get("comment") or None,
        time_on_task_ms=item_pages.task_clock(ctx).elapsed_ms(form.get("started"), task_id, now_ms),
    )
    try:
        review.decide(ctx, principal, task_id, decision)
    except errors.ValidationFailed as exc:
        return item_pages.item_response(
            request, ctx, principal, row.id, form=form, error=exc.detail, status=422
        )
    except errors.TaskAlreadyDecided:
        security.flash(request, f"Item {row.id} was already decided by someone else.", "warning")
        return _next_task(request, ctx, principal)
    except errors.TaskNotAssigned:
        # Their hold lapsed and another reviewer took the task over.
        security.flash(request, f"Another reviewer took item {row.id} over.", "warning")
        return _next_task(request, ctx, principal)
    # After a blind review the reviewer still does not learn what the AI said.
    relabelled = decision.label is not None and decision.label != row.ai_label and not row.blind
    security.flash(
        request,
        f"Item {row.id}: {decision.outcome}"
        + (f", relabelled {row.ai_label or '—'} → {decision.label}" if relabelled else "")
        + ".",
        "success",
    )
    return _next_task(request, ctx, principal)
