"""Assignment: give new tasks to a group member by strategy; admins assign and release.

Strategies run inside the transaction that creates the tasks (processing), with the
group's cursor row locked, so several workers assigning at once keep the turn
order and the cap. Every assignment is an `assigned` audit event carrying the
`task.created` / `task.assigned` notifications.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from signoff.domain import assignment as rules
from signoff.domain import audit as audit_rules
from signoff.domain import errors
from signoff.domain.review_ops import AssignmentStrategy, NotifyEvent, parse_timer
from signoff.domain.states import Role, TaskStatus
from signoff.domain.workflow import WorkflowSpec
from signoff.services import notifications
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.services.users import Principal
from signoff.storage import engine, groups, state, tasks, users, workflows

log = logging.getLogger(__name__)

#: The actor of assignments a strategy makes.
ACTOR = "assignment"
REVIEWING_ROLES = (Role.REVIEWER.value, Role.ADMIN.value)


def hold_for(ctx: Context, spec: WorkflowSpec | None) -> timedelta:
    """How long an untouched hold lasts: the workflow's claim_timeout, else claim_minutes."""
    timeout = spec.review.assignment.claim_timeout if spec is not None else None
    if timeout is not None:
        return parse_timer(timeout)
    return timedelta(minutes=ctx.settings.review.claim_minutes)


def touch_held(
    session: Session,
    ctx: Context,
    task_rows: Sequence[Any],
    spec: WorkflowSpec,
    user_id: int | None,
    now: datetime,
) -> None:
    """The assignee opened their task: note the touch and renew their hold from now."""
    for task in task_rows:
        if (
            user_id is not None
            and task.status == TaskStatus.ASSIGNED.value
            and (task.assignee_id == user_id)
        ):
            tasks.touch_task(session, task.id, user_id, now, now + hold_for(ctx, spec))


@dataclass(frozen=True)
class NewTask:
    """A task just created in this transaction, and where its workflow sends it."""

    task_id: int
    item_id: int
    workflow_id: int
    spec: WorkflowSpec
    target: rules.Target


def needs_pass(spec: WorkflowSpec) -> bool:
    """Whether new tasks of `spec` need the assignment pass (a strategy or a notification)."""
    strategy = spec.review.assignment.strategy
    announced = any(
        NotifyEvent.TASK_CREATED in r.on or NotifyEvent.TASK_ASSIGNED in r.on for r in spec.notify
    )
    return strategy != AssignmentStrategy.PULL or announced


def assign_new_tasks(session: Session, ctx: Context, new: Sequence[NewTask], now: datetime) -> int:
    """Assign each new task by its workflow's strategy; returns how many were assigned.

    A task whose group has nobody free (all at the cap, or no such member) stays in
    the pool for that group. Groups are locked in name order (no deadlocks).
    """
    assigned = 0
    for task in sorted(new, key=lambda n: (n.target.group or "", n.task_id)):
        messages = notifications.messages_for(
            session,
            ctx,
            NotifyEvent.TASK_CREATED,
            spec=task.spec,
            workflow_id=task.workflow_id,
            task_id=task.task_id,
            item_id=task.item_id,
            now=now,
        )
        chosen = _choose(session, ctx, task, now)
        if chosen is None:
            if messages:
                state.append_item_event(
                    session,
                    task.item_id,
                    audit_rules.EventKind.NOTIFIED,
                    ACTOR,
                    {"task_id": task.task_id, "event": NotifyEvent.TASK_CREATED.value},
                    now,
                    outbox=messages,
                )
            continue
        data = {
            "task_id": task.task_id,
            "strategy": task.spec.review.assignment.strategy.value,
            "group": task.target.group,
            "assignee": chosen.email,
        }
        if task.target.skill is not None:
            data["skill"] = task.target.skill
        if task.target.rule is not None:
            data["rule"] = task.target.rule
        messages += notifications.messages_for(
            session,
            ctx,
            NotifyEvent.TASK_ASSIGNED,
            spec=task.spec,
            workflow_id=task.workflow_id,
            task_id=task.task_id,
            item_id=task.item_id,
            now=now,
            data=data,
        )
        state.append_item_event(
            session,
            task.item_id,
            audit_rules.EventKind.ASSIGNED,
            ACTOR,
            data,
            now,
            outbox=messages,
        )
        assigned += 1
    return assigned


def _choose(session: Session, ctx: Context, task: NewTask, now: datetime) -> Any | None:
    """The member the strategy picks, the task now theirs; None: it stays in the pool."""
    spec = task.spec.review.assignment
    group = task.target.group
    if spec.strategy == AssignmentStrategy.PULL or group is None:
        return None
    last = groups.lock_cursor(session, group, now)
    workflow = workflows.read_workflow_by_id(session, task.workflow_id)
    org_id = workflow.org_id if workflow is not None else None
    # Consensus: nobody gets a second task of one item.
    reviewed = tasks.list_item_reviewers(session, task.item_id, task.task_id)
    members = [
        m
        for m in groups.list_members(session, group)
        if m.role in REVIEWING_ROLES
        and (m.workflows is None or task.spec.name in m.workflows)
        and m.org_id in (None, org_id)  # a group of another org never gets this org's tasks
        and int(m.user_id) not in reviewed
    ]
    load = tasks.list_member_load(session, [m.user_id for m in members])
    candidates = [
        rules.Candidate(
            user_id=int(m.user_id),
            email=m.email,
            skills=tuple(m.skills or ()),
            open_tasks=load.get(int(m.user_id), (0, None))[0],
            last_active=load.get(int(m.user_id), (0, None))[1],
        )
        for m in members
    ]
    chosen = rules.pick(
        spec.strategy,
        candidates,
        skill=task.target.skill,
        cap=spec.max_open_per_reviewer,
        last_user_id=last,
    )
    if chosen is None:
        log.info(
            "action=task_unassigned task_id=%s group=%s reason=nobody_free", task.task_id, group
        )
        return None
    hold = now + hold_for(ctx, task.spec)
    contested = task.spec.review.consensus is not None
    if not tasks.assign_task(
        session, task.task_id, chosen.user_id, now, hold, only_open=True, consensus=contested
    ):
        return None
    groups.update_cursor(session, group, chosen.user_id, now)
    return chosen


def assign_task(ctx: Context, principal: Principal, task_id: int, assignee: str | None) -> Any:
    """An admin gives a task to `assignee` (reassigning it if held), or releases it (None).

    TaskNotFound; TaskAlreadyDecided / InvalidTransition (409) for a closed task;
    ValidationFailed naming `assignee` for a user who cannot review it.
    """
    if principal.role is not Role.ADMIN:
        raise errors.Forbidden("only admins assign review tasks")
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        task = tasks.read_task(session, task_id)
        workflow = workflows.read_workflow_by_id(session, task.workflow_id) if task else None
        if task is None or workflow is None or not principal.may_access(workflow.name):
            raise errors.TaskNotFound(task_id=task_id)
        if task.status == TaskStatus.DECIDED.value:
            raise errors.TaskAlreadyDecided(task_id=task_id)
        if task.status == TaskStatus.CANCELLED.value:
            raise errors.InvalidTransition("the item was cancelled; this task is closed")
        version = tasks.read_task_version(session, task_id)
        spec = workflow_service.get_spec(ctx, task.workflow_id, version or workflow.current_version)
        previous = users.read_user(session, task.assignee_id) if task.assignee_id else None
        data: dict[str, Any] = {"task_id": task_id, "strategy": "admin", "group": task.group_name}
        if previous is not None and task.status == TaskStatus.ASSIGNED.value:
            data["previous"] = previous.email
        if assignee is None:
            if not tasks.release_task(session, task_id, None):
                return task  # already in the pool: nothing to release
            state.append_item_event(
                session, task.item_id, audit_rules.EventKind.UNASSIGNED, principal.actor, data, now
            )
        else:
            user = _assignee(session, assignee, task, spec, workflow.org_id)
            hold = now + hold_for(ctx, spec)
            contested = task.kind is not None
            if not tasks.assign_task(
                session, task_id, user.id, now, hold, only_open=False, consensus=contested
            ):
                if contested and user.id in tasks.list_item_reviewers(
                    session, task.item_id, task.id
                ):
                    raise errors.ValidationFailed(
                        f"assignee: {user.email} already has a review task of this item",
                        field="assignee",
                    )
                raise errors.TaskAlreadyDecided(task_id=task_id)
            data["assignee"] = user.email
            messages = notifications.messages_for(
                session,
                ctx,
                NotifyEvent.TASK_ASSIGNED,
                spec=spec,
                workflow_id=task.workflow_id,
                task_id=task_id,
                item_id=task.item_id,
                now=now,
                data=data,
            )
            state.append_item_event(
                session,
                task.item_id,
                audit_rules.EventKind.ASSIGNED,
                principal.actor,
                data,
                now,
                outbox=messages,
            )
        updated = tasks.read_task(session, task_id)
    log.info("action=task_assigned task_id=%s by=admin assignee=%s", task_id, assignee)
    ctx.bus.publish("task_assigned", {"task_id": task_id})
    return updated


def _assignee(session: Session, email: str, task: Any, spec: WorkflowSpec, org_id: int) -> Any:
    """The user `email` if they may review this task; ValidationFailed naming `assignee`."""
    user = users.read_user_by_email(session, email.strip().lower())
    # A user of another org is answered as one that does not exist.
    if user is None or not user.active or user.org_id not in (None, org_id):
        raise errors.ValidationFailed(f"assignee: no active user {email}", field="assignee")
    if user.role not in REVIEWING_ROLES:
        raise errors.ValidationFailed(
            f"assignee: {user.email} is a {user.role}, not a reviewer", field="assignee"
        )
    if user.workflows is not None and spec.name not in user.workflows:
        raise errors.ValidationFailed(
            f"assignee: {user.email} has no access to workflow {spec.name!r}", field="assignee"
        )
    if user.id in tasks.list_item_reviewers(session, task.item_id, task.id):
        raise errors.ValidationFailed(
            f"assignee: {user.email} already has a review task of this item", field="assignee"
        )
    if (
        task.group_name is not None
        and user.role != Role.ADMIN.value
        and task.group_name not in groups.list_user_groups(session, user.id)
    ):
        raise errors.ValidationFailed(
            f"assignee: {user.email} is not a member of group {task.group_name!r}",
            field="assignee",
        )
    return user
