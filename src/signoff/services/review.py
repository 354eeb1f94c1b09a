"""Reviewers' work: claim the next task, decide it, cancel items."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from signoff.domain import audit as audit_rules
from signoff.domain import consensus as consensus_rules
from signoff.domain import errors, review_fields
from signoff.domain.review_ops import NotifyEvent
from signoff.domain.states import ItemState, Role, TaskStatus
from signoff.services import (
    assignment,
    calibration,
    consensus,
    decisions,
    gold,
    notifications,
    training,
)
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.services.users import Principal
from signoff.storage import engine, groups, items, rows, state, tasks, users, workflows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecisionInput:
    outcome: str
    label: str | None = None
    entities: list[dict[str, Any]] | None = None
    comment: str | None = None
    #: Several labels, for a workflow with `labels_mode: multi` (`label` is then the first).
    labels: list[str] | None = None
    #: Values of the workflow's `review.fields`, validated and typed on decide.
    fields: dict[str, Any] | None = None
    time_on_task_ms: int | None = None
    #: How the decision was made when not in the review UI or API (e.g. "email-link").
    channel: str | None = None


def _workflow_ids(
    ctx: Context, session: Session, principal: Principal, workflow: str | None
) -> list[int] | None:
    """The workflows a reviewer may take tasks from (None: all)."""
    if workflow is not None:
        view = workflow_service.get_workflow(ctx, workflow)
        if not principal.may_access(view.name):
            # The answer a missing workflow gets, so existence does not leak.
            raise errors.WorkflowNotFound(f"no workflow named {workflow!r}", workflow=workflow)
        return [view.id]
    names = principal.workflows
    if principal.org_workflows is not None:
        # An org's reviewer takes only their org's tasks (within any restriction of theirs).
        names = sorted(n for n in principal.org_workflows if principal.may_access(n))
    if names is None:
        return None
    rows = [workflows.read_workflow(session, n) for n in names]
    return [r.id for r in rows if r is not None]


@dataclass(frozen=True)
class TaskView:
    """A task and its item as they stand after a claim or a decision."""

    task: rows.TaskRow
    item: rows.ItemRow


def claim_next_task(
    ctx: Context, principal: Principal, workflow: str | None = None, skip: Sequence[int] = ()
) -> Any | None:
    """The caller's assigned task, or the next open one (not in `skip`) now theirs; None if none."""
    claimed = claim_next(ctx, principal, workflow, skip)
    return claimed.task if claimed is not None else None


def claim_next(
    ctx: Context, principal: Principal, workflow: str | None = None, skip: Sequence[int] = ()
) -> TaskView | None:
    """The caller's assigned task, or the next open one (not in `skip`) now theirs, with its
    item; None if none. One transaction on one connection.

    A task whose hold lapsed counts as open: it takes its place in due order. A task
    for a group is offered to that group's members only (admins: every task).
    """
    if principal.user_id is None or principal.role not in (Role.REVIEWER, Role.ADMIN):
        raise errors.Forbidden("only reviewers can claim review tasks")
    now = ctx.clock.now()
    claimed = None
    with engine.transaction(ctx.sessions) as session:
        workflow_ids = _workflow_ids(ctx, session, principal, workflow)
        mine = tasks.read_assigned_task(session, principal.user_id, workflow_ids)
        if mine is not None:
            item = items.read_item(session, mine.item_id)
            assert item is not None
            return TaskView(mine, item)
        member_of = _member_of(session, principal)
        candidates = tasks.list_claimable_tasks(
            session, workflow_ids, now, groups=member_of, exclude=skip, reviewer=principal.user_id
        )
        for before in candidates:
            # The task's row is locked (or SQLite's writer lock held): now its item's.
            item = items.read_item(session, before.item_id, lock=True)
            assert item is not None
            spec = workflow_service.get_spec(ctx, item.workflow_id, item.workflow_version)
            hold = now + assignment.hold_for(ctx, spec)
            contested = before.kind is not None
            task = tasks.take_task(
                session, before.id, principal.user_id, now, hold, member_of, consensus=contested
            )
            if task is not None:
                state.append_item_event(
                    session,
                    task.item_id,
                    audit_rules.EventKind.ASSIGNED,
                    principal.actor,
                    _assigned_event_data(session, before, principal),
                    now,
                    outbox=_assigned_notices(ctx, session, task, now, item, spec),
                    head=(item.audit_seq, item.audit_hash),
                )
                after = items.read_item(session, task.item_id)
                assert after is not None
                claimed = TaskView(task, after)
                break
    if claimed is not None:
        ctx.bus.publish("task_assigned", {"task_id": claimed.task.id})
    return claimed


def _member_of(session: Session, principal: Principal) -> list[str] | None:
    """The groups whose tasks the caller may take (None: all, for admins)."""
    if principal.role is Role.ADMIN or principal.user_id is None:
        return None
    return groups.list_user_groups(session, principal.user_id)


def _task_spec(ctx: Context, session: Session, task: rows.TaskRow) -> Any:
    """The spec the task's item runs under (its claim_timeout sets the hold)."""
    version = tasks.read_task_version(session, task.id)
    return workflow_service.get_spec(ctx, task.workflow_id, version) if version else None


def _assigned_event_data(session: Session, before: Any, principal: Principal) -> dict[str, Any]:
    """The `assigned` event's data; a task taken over names whose hold lapsed."""
    data: dict[str, Any] = {
        "task_id": before.id,
        "strategy": "pull",
        "group": before.group_name,
        "assignee": principal.email,
    }
    if before.status == TaskStatus.ASSIGNED.value and before.assignee_id is not None:
        previous = users.read_user(session, before.assignee_id)
        data["lapsed_hold_of"] = previous.email if previous else before.assignee_id
    return data


def _assigned_notices(
    ctx: Context,
    session: Session,
    task: Any,
    now: datetime,
    item: Any = None,
    spec: Any = None,
) -> list[state.OutboxMessage]:
    """The workflow's notifications on `task.assigned` (the task row is now the claimer's);
    `item` and `spec` when the caller has them already."""
    item = item if item is not None else items.read_item(session, task.item_id)
    if item is None:
        return []
    if spec is None:
        spec = workflow_service.get_spec(ctx, item.workflow_id, item.workflow_version)
    return notifications.messages_for(
        session,
        ctx,
        NotifyEvent.TASK_ASSIGNED,
        spec=spec,
        workflow_id=item.workflow_id,
        task_id=task.id,
        item_id=item.id,
        now=now,
        data={"claimed": True},
    )


def hold_lapsed(ctx: Context, task: rows.TaskRow, now: datetime) -> bool:
    """Whether another reviewer may take this assigned task over (its hold ran out)."""
    del ctx
    return bool(
        task.status == TaskStatus.ASSIGNED.value
        and task.hold_expires_at is not None
        and task.hold_expires_at < now
    )


def claim_task(ctx: Context, principal: Principal, task_id: int) -> Any:
    """Make one particular task the caller's; TaskClaimed while another reviewer holds it.

    The same guarded update as the queue's claims, so two reviewers opening one item
    cannot both get it; an open task, or one whose hold lapsed, can be taken — by a
    member of the task's group (or an admin).
    """
    if principal.user_id is None or principal.role not in (Role.REVIEWER, Role.ADMIN):
        raise errors.Forbidden("only reviewers can claim review tasks")
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        task = tasks.read_task(session, task_id)
        workflow = workflows.read_workflow_by_id(session, task.workflow_id) if task else None
        if task is None or workflow is None or not principal.may_access(workflow.name):
            raise errors.TaskNotFound(task_id=task_id)
        if task.status == TaskStatus.ASSIGNED.value and task.assignee_id == principal.user_id:
            hold = now + assignment.hold_for(ctx, _task_spec(ctx, session, task))
            tasks.touch_task(session, task.id, principal.user_id, now, hold)
            return tasks.read_task(session, task_id)
        if task.status == TaskStatus.DECIDED.value:
            raise errors.TaskAlreadyDecided(task_id=task_id)
        if task.status == TaskStatus.CANCELLED.value:
            raise errors.InvalidTransition("the item was cancelled; this task is closed")
        member_of = _member_of(session, principal)
        if member_of is not None and task.group_name not in (None, *member_of):
            raise errors.Forbidden(
                f"this task is for group {task.group_name!r}; you are not a member"
            )
        if principal.user_id in tasks.list_item_reviewers(session, task.item_id, task.id):
            raise errors.ItemAlreadyReviewed(
                "you already have a review task of this item; another reviewer takes this one"
            )
        hold = now + assignment.hold_for(ctx, _task_spec(ctx, session, task))
        contested = task.kind is not None
        taken = tasks.take_task(
            session, task_id, principal.user_id, now, hold, member_of, consensus=contested
        )
        if taken is None:
            if principal.user_id in tasks.list_item_reviewers(session, task.item_id, task.id):
                # Lost a race with the same reviewer taking another task of this item.
                raise errors.ItemAlreadyReviewed(
                    "you already have a review task of this item; another reviewer takes this one"
                )
            current = tasks.read_task(session, task_id)
            raise _held_elsewhere(session, task_id, current)
        data = _assigned_event_data(session, task, principal)
        state.append_item_event(
            session,
            task.item_id,
            audit_rules.EventKind.ASSIGNED,
            principal.actor,
            data,
            now,
            outbox=_assigned_notices(ctx, session, taken, now),
        )
    log.info("action=task_claimed task_id=%s user_id=%s", task_id, principal.user_id)
    ctx.bus.publish("task_assigned", {"task_id": task_id})
    return taken


def _held_elsewhere(session: Session, task_id: int, task: Any) -> errors.SignoffError:
    """Why a guarded claim found nothing to take: decided, closed, or held by someone."""
    if task is not None and task.status == TaskStatus.DECIDED.value:
        return errors.TaskAlreadyDecided(task_id=task_id)
    if task is not None and task.status == TaskStatus.CANCELLED.value:
        return errors.InvalidTransition("the item was cancelled; this task is closed")
    holder = users.read_user(session, task.assignee_id) if task and task.assignee_id else None
    who = holder.email if holder is not None else "another reviewer"
    return errors.TaskClaimed(f"{who} is reviewing this item", task_id=task_id)


def release_task(ctx: Context, principal: Principal, task_id: int) -> None:
    """Give a task the caller holds back to the queue (a reviewer skipping it)."""
    if principal.user_id is None:
        raise errors.Forbidden("only reviewers can release review tasks")
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        task = tasks.read_task(session, task_id)
        if task is None:
            raise errors.TaskNotFound(task_id=task_id)
        if not tasks.release_task(session, task_id, principal.user_id):
            raise errors.TaskNotAssigned(task_id=task_id)
        state.append_item_event(
            session,
            task.item_id,
            audit_rules.EventKind.RELEASED,
            principal.actor,
            {"task_id": task_id},
            now,
        )
    ctx.bus.publish("tasks_created", {"count": 1, "released": task_id})


def get_task(ctx: Context, task_id: int, principal: Principal | None = None) -> rows.TaskRow:
    """The task, or TaskNotFound; with `principal`, also when its workflow is not theirs
    (another org's or outside their workflows), so a task's existence does not leak."""
    with ctx.sessions() as session:
        return _visible_task(ctx, session, task_id, principal)


def _visible_task(
    ctx: Context,
    session: Session,
    task_id: int,
    principal: Principal | None,
    *,
    lock: bool = False,
) -> rows.TaskRow:
    task = tasks.read_task(session, task_id, lock=lock)
    if task is None:
        raise errors.TaskNotFound(task_id=task_id)
    if principal is not None:
        try:
            name = workflow_service.workflow_name(ctx, task.workflow_id, session)
        except errors.WorkflowNotFound:
            raise errors.TaskNotFound(task_id=task_id) from None
        if not principal.may_access(name):
            raise errors.TaskNotFound(task_id=task_id)
    return task


def decide(ctx: Context, principal: Principal, task_id: int, decision: DecisionInput) -> Any:
    """Record a reviewer's decision on a task; a second decision raises TaskAlreadyDecided."""
    return decide_and_read(ctx, principal, task_id, decision).task


def decide_and_read(
    ctx: Context, principal: Principal, task_id: int, decision: DecisionInput
) -> TaskView:
    """`decide`, and the task and item as they stand after it: one transaction throughout."""
    with engine.transaction(ctx.sessions) as session:
        # Task, then item, locked in the order claims lock them.
        task = _visible_task(ctx, session, task_id, principal, lock=True)
        result, item, spec, pending = _decide(ctx, session, principal, task, decision)
        after = items.read_item(session, item.id)
        assert after is not None
    if pending:
        ctx.bus.publish("tasks_created", {"count": 0, "item_id": item.id})
        return TaskView(result, after)
    ctx.bus.publish("items_decided", {"item_ids": [item.id], "workflow_id": item.workflow_id})
    if item.gold_label is None:
        training.note_new_label(ctx, item.workflow_id, spec)
    return TaskView(result, after)


def _decide(
    ctx: Context, session: Session, principal: Principal, task: Any, decision: DecisionInput
) -> tuple[Any, Any, Any, bool]:
    """The decision within the caller's transaction: (task as decided, item before it,
    spec, whether a consensus item still waits for votes)."""
    task_id = task.id
    if principal.role not in (Role.REVIEWER, Role.ADMIN) or principal.user_id is None:
        raise errors.Forbidden("only reviewers can decide review tasks")
    if task.status == TaskStatus.DECIDED.value:
        raise errors.TaskAlreadyDecided(task_id=task_id)
    if task.status == TaskStatus.CANCELLED.value:
        raise errors.InvalidTransition("the item was cancelled; this task is closed")
    if (
        task.status == TaskStatus.ASSIGNED.value
        and task.assignee_id != principal.user_id
        and principal.role is not Role.ADMIN
    ):
        raise errors.TaskNotAssigned(task_id=task_id)
    item = items.read_item(session, task.item_id, lock=True)
    assert item is not None
    spec = workflow_service.get_spec(ctx, item.workflow_id, item.workflow_version)
    if not principal.may_access(spec.name):
        raise errors.TaskNotFound(task_id=task_id)
    chosen, values = _validate(spec, decision, item)
    if item.blind and not chosen and item.ai_label is not None:
        # The reviewer never saw the AI's label, so it cannot stand in for theirs.
        raise errors.ValidationFailed(
            "label: this item is reviewed blind; name the label", field="label"
        )
    label = chosen[0] if chosen else item.ai_label
    all_labels = chosen or ([label] if label else [])
    entities = decision.entities
    if entities is None:
        entities = (item.prediction or {}).get("entities") or []
    rejected = spec.final_state_for(decision.outcome) == ItemState.REJECTED.value
    # The person overrides the AI when the label differs or the decision ends in another
    # state than the automatic decision of the AI's label would have (`auto_outcomes`).
    ai_rejects = (
        spec.final_state_for(spec.review.outcome_for(item.ai_label)) == ItemState.REJECTED.value
    )
    override = rejected != ai_rejects or (all_labels != ([item.ai_label] if item.ai_label else []))
    if decision.entities is not None and decision.entities != (item.prediction or {}).get(
        "entities"
    ):
        override = True
    comment = (decision.comment or "").strip() or None
    needs_comment = (
        "always" in spec.review.require_comment_on
        or ("override" in spec.review.require_comment_on and override and not rejected)
        or ("rejected" in spec.review.require_comment_on and rejected)
    )
    if needs_comment and not comment:
        raise errors.ValidationFailed(
            "comment: this workflow requires a comment for this decision", field="comment"
        )
    now = ctx.clock.now()
    record = decisions.DecisionRecord(
        outcome=decision.outcome,
        label=label,
        entities=entities,
        decided_by=principal.actor,
        comment=comment,
        decided_at=now,
        override=override,
        labels=tuple(all_labels),
        fields=values,
    )
    columns = record.columns()
    voting = consensus.is_consensus_task(task)
    if voting:
        # Votes on one item one at a time: the vote completing the tally sees the rest.
        items.lock_item(session, item.id)
        voter = task.assignee_id or principal.user_id
        if voter in tasks.list_item_reviewers(session, item.id, task.id):
            raise errors.ItemAlreadyReviewed(
                "you already have a review task of this item; another reviewer takes this one"
            )
    decided = tasks.decide_task(
        session,
        task_id,
        {
            "decided_at": now,
            "outcome": decision.outcome,
            "labels": all_labels,
            "fields": values,
            "entities": entities,
            "comment": comment,
            "time_on_task_ms": decision.time_on_task_ms,
            "assignee_id": task.assignee_id or principal.user_id,
        },
    )
    if decided is None:
        raise errors.TaskAlreadyDecided(task_id=task_id)
    tally_data: dict[str, Any] = {}
    if voting and not _counted_vote(session, ctx, spec, item, task, principal, all_labels, now):
        pending = True
    else:
        pending = False
        if voting:
            # The votes still open are no longer needed (a majority reached early).
            tasks.cancel_tasks_for_item(session, item.id)
            tally_data = {"consensus": task.kind}
    if not pending:
        if (
            item.gold_label is None
            and label is not None
            and (not rejected or decision.label is not None)
        ):
            # Before the state change: the shared counters it and count_decision bump
            # (one row per workflow and day) stay locked for as short a time as can be.
            training.record_label(session, item, spec, label, now)
        state.set_item_state(
            session,
            state.StateChange(
                item_id=item.id,
                expected=ItemState.IN_REVIEW,
                target=ItemState(spec.final_state_for(decision.outcome)),
                event=audit_rules.EventKind.DECIDED,
                actor=principal.actor,
                data={
                    "task_id": task_id,
                    "outcome": decision.outcome,
                    "label": label,
                    **({"labels": all_labels} if len(all_labels) > 1 else {}),
                    **({"fields": values} if values else {}),
                    "ai_label": item.ai_label,
                    "override": override,
                    "comment": comment,
                    "entities": entities,
                    "time_on_task_ms": decision.time_on_task_ms,
                    **({"channel": decision.channel} if decision.channel else {}),
                    **tally_data,
                },
                values=columns,
                # Read locked above; a vote may have written to the chain since.
                head=None if voting else (item.audit_seq, item.audit_hash),
                # A gold item's decision reaches no application and no channel.
                outbox=[]
                if item.gold_label is not None
                else decisions.delivery_messages(
                    spec,
                    item.workflow_id,
                    item.id,
                    record,
                    _delivered_values(item),
                )
                + _decision_notices(ctx, session, spec, item, task_id, decision.outcome, now),
            ),
            now,
        )
        if item.gold_label is not None:
            # Gold teaches the model nothing (its label is known); it measures the reviewer.
            flagged = gold.check_reviewer(
                session, item.workflow_id, spec, task.assignee_id or principal.user_id, now
            )
            if flagged:
                # Their decisions stop counting: every process recomputes the threshold.
                calibration.count_decision(session, item.workflow_id)
        else:
            calibration.count_decision(session, item.workflow_id, item.id)
    if voting:
        # A vote may change its task's row further (a tally, a tie-break).
        decided = tasks.read_task(session, task_id)
    return decided, item, spec, pending


def _delivered_values(item: Any) -> dict[str, Any]:
    """What a decision's webhook says of the item besides the decision itself."""
    return {
        "external_id": item.external_id,
        "ai_label": item.ai_label,
        "confidence": item.confidence,
        "route": item.route,
    }


def _counted_vote(
    session: Session,
    ctx: Context,
    spec: Any,
    item: Any,
    task: Any,
    principal: Principal,
    labels: list[str],
    now: datetime,
) -> bool:
    """Record a consensus vote; True when it decides the item (agreement, or a tie-break)."""
    decided = tasks.read_task(session, task.id)
    assert decided is not None
    tally = consensus.record_vote(
        session,
        ctx,
        spec,
        item,
        task,
        actor=principal.actor,
        outcome=str(decided.outcome),
        labels=labels,
        now=now,
    )
    return tally.verdict is consensus_rules.Verdict.AGREED


def _decision_notices(
    ctx: Context,
    session: Session,
    spec: Any,
    item: Any,
    task_id: int,
    outcome: str,
    now: datetime,
) -> list[state.OutboxMessage]:
    """The workflow's notifications on `task.decided` and `item.decided`."""
    return [
        message
        for event in (NotifyEvent.TASK_DECIDED, NotifyEvent.ITEM_DECIDED)
        for message in notifications.messages_for(
            session,
            ctx,
            event,
            spec=spec,
            workflow_id=item.workflow_id,
            task_id=task_id,
            item_id=item.id,
            now=now,
            data={"outcome": outcome},
        )
    ]


def _chosen_labels(spec: Any, decision: DecisionInput) -> list[str]:
    """The labels the decision names, first one first; refused when not the workflow's."""
    chosen = list(decision.labels or [])
    if decision.label is not None:
        if chosen and chosen[0] != decision.label:
            raise errors.ValidationFailed("labels: conflicts with label", field="labels")
        chosen = chosen or [decision.label]
    unknown = [lab for lab in chosen if lab not in spec.labels]
    if unknown:
        raise errors.ValidationFailed(f"labels: must be among {spec.labels}", field="labels")
    if len(set(chosen)) != len(chosen):
        raise errors.ValidationFailed("labels: each label at most once", field="labels")
    if len(chosen) > 1 and spec.labels_mode != "multi":
        raise errors.ValidationFailed(
            "labels: this workflow takes one label (labels_mode: single)", field="labels"
        )
    return chosen


def _validate(spec: Any, decision: DecisionInput, item: Any) -> tuple[list[str], dict[str, Any]]:
    """The decision's labels and typed field values; ValidationFailed names the field."""
    if decision.outcome not in spec.review.outcomes:
        raise errors.ValidationFailed(
            f"outcome: must be one of {spec.review.outcomes}", field="outcome"
        )
    chosen = _chosen_labels(spec, decision)
    values = review_fields.validate_values(spec.review.fields, decision.fields or {})
    if decision.entities is not None:
        types = {e.type for e in spec.entities}
        for entity in decision.entities:
            if not isinstance(entity, dict) or "type" not in entity or "text" not in entity:
                raise errors.ValidationFailed(
                    "entities: each needs type and text", field="entities"
                )
            if entity["type"] not in types:
                raise errors.ValidationFailed(
                    f"entities: unknown entity type {entity['type']!r}", field="entities"
                )
    return chosen, values


def decide_as_system(
    session: Session,
    ctx: Context,
    task: Any,
    item: Any,
    spec: Any,
    *,
    outcome: str,
    comment: str | None,
    actor: str,
    now: datetime,
) -> bool:
    """Record a default outcome nobody chose (an SLA timeout) in the caller's transaction.

    False if the task was decided meanwhile; see `system_decision`.
    """
    change = system_decision(
        session, ctx, task, item, spec, outcome=outcome, comment=comment, actor=actor, now=now
    )
    if change is None:
        return False
    state.set_item_state(session, change, now)
    return True


def system_decision(
    session: Session,
    ctx: Context,
    task: Any,
    item: Any,
    spec: Any,
    *,
    outcome: str,
    comment: str | None,
    actor: str,
    now: datetime,
) -> state.StateChange | None:
    """Decide the task by default and return the item's state change, for the caller to apply.

    The decision path reviewers take (guarded task update, the one state change, the
    decision webhook and notifications), but it is no one's judgement: it teaches the
    model no label and, with `override` left unset, is no evidence for calibration.
    None if the task was decided meanwhile; ValidationFailed if the outcome is not
    one of the item's. Callers applying many changes use `state.set_item_states`.
    """
    if outcome not in spec.review.outcomes:
        raise errors.ValidationFailed(
            f"outcome: {outcome!r} is not one of {spec.review.outcomes}", field="outcome"
        )
    entities = (item.prediction or {}).get("entities") or []
    values = {
        "decided_at": now,
        "outcome": outcome,
        "labels": [item.ai_label] if item.ai_label else [],
        "entities": entities,
        "comment": comment,
        "assignee_id": task.assignee_id,
    }
    if not tasks.decide_task(session, task.id, values):
        return None
    # A consensus item's other votes (or its tie-break) close with the default decision.
    tasks.cancel_tasks_for_item(session, item.id)
    record = decisions.DecisionRecord(
        outcome=outcome,
        label=item.ai_label,
        entities=entities,
        decided_by=actor,
        comment=comment,
        decided_at=now,
        override=False,
    )
    outbox = decisions.delivery_messages(
        spec,
        item.workflow_id,
        item.id,
        record,
        _delivered_values(item),
    )
    for event in (NotifyEvent.TASK_DECIDED, NotifyEvent.ITEM_DECIDED):
        outbox += notifications.messages_for(
            session,
            ctx,
            event,
            spec=spec,
            workflow_id=item.workflow_id,
            task_id=task.id,
            item_id=item.id,
            now=now,
            data={"outcome": outcome, "decided_by": actor},
        )
    if getattr(item, "gold_label", None) is not None:
        outbox = []  # a gold item's default outcome reaches no application either
    return state.StateChange(
        item_id=item.id,
        expected=ItemState.IN_REVIEW,
        target=ItemState(spec.final_state_for(outcome)),
        event=audit_rules.EventKind.DECIDED,
        actor=actor,
        data={
            "task_id": task.id,
            "outcome": outcome,
            "label": item.ai_label,
            "ai_label": item.ai_label,
            "override": None,
            "comment": comment,
            "default_outcome": True,
        },
        values={**record.columns(), "override": None},
        outbox=outbox,
    )
