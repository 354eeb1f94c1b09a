"""M-of-N consensus: N vote tasks per item, the tally after each vote, the tie-break.

Votes on one item are serialised by locking the item's row, so the vote that completes
the tally always sees the others; only that vote decides the item (one decision, one
delivery, one training label). A disagreement closes the remaining votes and opens a
tie-break task for `escalate_to` (or for one more reviewer of the task's group).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from signoff.domain import agreement
from signoff.domain import audit as audit_rules
from signoff.domain import consensus as rules
from signoff.domain.assignment import Target
from signoff.domain.review_ops import NotifyEvent
from signoff.domain.states import TaskStatus
from signoff.domain.workflow import WorkflowSpec
from signoff.services import assignment, notifications
from signoff.services.context import Context
from signoff.storage import state, tasks

log = logging.getLogger(__name__)

#: The actor of a tie-break task's creation.
ACTOR = "consensus"


def task_rows(spec: WorkflowSpec, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The review tasks a human-routed item gets: one, or N votes when consensus applies."""
    policy = spec.review.consensus
    if policy is None or not rules.sampled(row["workflow_id"], row["item_id"], policy.sample_rate):
        return [{**row, "kind": None}]
    return [{**row, "kind": rules.TaskKind.VOTE.value} for _ in range(policy.reviewers)]


def is_consensus_task(task: Any) -> bool:
    """Whether the task is a vote or a tie-break (its decision goes through the tally)."""
    return task.kind is not None


def _votes(session: Session, item_id: int) -> list[rules.Vote]:
    """The item's decided votes, oldest first."""
    return [
        rules.Vote(
            reviewer=str(row.assignee_id),
            outcome=str(row.outcome),
            labels=tuple(row.labels or ()),
        )
        for row in tasks.list_tasks_for_item(session, item_id)
        if row.kind == rules.TaskKind.VOTE.value and row.status == TaskStatus.DECIDED.value
    ]


def record_vote(
    session: Session,
    ctx: Context,
    spec: WorkflowSpec,
    item: Any,
    task: Any,
    *,
    actor: str,
    outcome: str,
    labels: list[str],
    now: datetime,
) -> rules.Tally:
    """Audit the vote just written on `task` and tally the item's votes (caller's transaction).

    AGREED (or a tie-break's vote): the caller decides the item with this vote. DISAGREED:
    the open votes are closed and a tie-break task is created here. PENDING: nothing more.
    """
    policy = spec.review.consensus
    tiebreak = task.kind == rules.TaskKind.TIEBREAK.value
    # A tie-break's vote settles the item whatever the others said.
    result = (
        rules.tally(policy, _votes(session, item.id))
        if policy is not None and not tiebreak
        else rules.Tally(rules.Verdict.AGREED)
    )
    # A vote that decides the item sends `task.decided` with the decision; the others here.
    notices = (
        []
        if result.verdict is rules.Verdict.AGREED
        else notifications.messages_for(
            session,
            ctx,
            NotifyEvent.TASK_DECIDED,
            spec=spec,
            workflow_id=item.workflow_id,
            task_id=task.id,
            item_id=item.id,
            now=now,
            data={"outcome": outcome, "vote": True},
        )
    )
    state.append_item_event(
        session,
        item.id,
        audit_rules.EventKind.CONSENSUS_VOTE,
        actor,
        {
            "task_id": task.id,
            "kind": task.kind,
            "outcome": outcome,
            "labels": labels,
            "verdict": result.verdict.value,
        },
        now,
        outbox=notices,
    )
    if result.verdict is rules.Verdict.DISAGREED:
        assert policy is not None
        _escalate(session, ctx, spec, item, task, policy, now)
    return result


def _escalate(
    session: Session,
    ctx: Context,
    spec: WorkflowSpec,
    item: Any,
    task: Any,
    policy: rules.ConsensusSpec,
    now: datetime,
) -> None:
    """Close the votes still open and open the tie-break task, audited."""
    tasks.cancel_tasks_for_item(session, item.id)
    group = policy.escalate_to or task.group_name
    due_in = spec.review.due_in()
    tasks.create_tasks(
        session,
        [
            {
                "item_id": item.id,
                "workflow_id": item.workflow_id,
                "status": TaskStatus.OPEN.value,
                "created_at": now,
                "due_at": now + due_in if due_in is not None else None,
                "group_name": group,
                "kind": rules.TaskKind.TIEBREAK.value,
            }
        ],
    )
    tiebreak_id = tasks.list_new_tasks(session, [item.id])[item.id][0]
    votes = _votes(session, item.id)
    state.append_item_event(
        session,
        item.id,
        audit_rules.EventKind.CONSENSUS_ESCALATED,
        ACTOR,
        {
            "task_id": tiebreak_id,
            "group": group,
            "agreement": policy.agreement.value,
            "votes": [{"outcome": v.outcome, "labels": list(v.labels)} for v in votes],
        },
        now,
    )
    log.info("action=consensus_escalated item_id=%s task_id=%s", item.id, tiebreak_id)
    if assignment.needs_pass(spec):
        new = assignment.NewTask(
            task_id=tiebreak_id,
            item_id=item.id,
            workflow_id=item.workflow_id,
            spec=spec,
            target=Target(group),
        )
        assignment.assign_new_tasks(session, ctx, [new], now)


#: Most votes the agreement figures read (the latest ones).
AGREEMENT_SAMPLE = 50_000


def agreement_figures(
    session: Session,
    workflow_ids: list[int],
    names: dict[int, str],
    emails: dict[int, str],
    since: datetime | None,
) -> dict[str, Any]:
    """Fleiss' kappa per workflow and Cohen's kappa per reviewer pair over consensus votes.

    A vote's category is its outcome and labels (what two votes must share to agree);
    tie-breaks are not votes of the panel and are left out.
    """
    rows = tasks.list_decided_votes(session, workflow_ids, since, AGREEMENT_SAMPLE)
    by_item: dict[tuple[int, int], dict[int, str]] = {}
    for row in rows:
        answer = f"{row.outcome}:{'+'.join(row.labels or ())}"
        by_item.setdefault((int(row.workflow_id), int(row.item_id)), {})[int(row.assignee_id)] = (
            answer
        )
    panels: dict[int, list[dict[str, int]]] = {}
    pairs: dict[tuple[int, int, int], list[tuple[str, str]]] = {}
    for (workflow_id, _item), votes in by_item.items():
        counts: dict[str, int] = {}
        for answer in votes.values():
            counts[answer] = counts.get(answer, 0) + 1
        panels.setdefault(workflow_id, []).append(counts)
        people = sorted(votes)
        for i, a in enumerate(people):
            for b in people[i + 1 :]:
                pairs.setdefault((workflow_id, a, b), []).append((votes[a], votes[b]))
    return {
        "workflows": [
            {
                "workflow": names.get(w, str(w)),
                "items": sum(1 for c in panels[w] if sum(c.values()) >= 2),
                "fleiss_kappa": _round(agreement.fleiss_kappa(panels[w])),
            }
            for w in sorted(panels, key=lambda w: names.get(w, str(w)))
        ],
        "pairs": [
            {
                "workflow": names.get(w, str(w)),
                "reviewers": [emails.get(a, f"user {a}"), emails.get(b, f"user {b}")],
                "items": len(answers),
                "cohen_kappa": _round(agreement.cohen_kappa(answers)),
            }
            for (w, a, b), answers in sorted(pairs.items(), key=lambda kv: -len(kv[1]))
        ],
    }


def _round(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None
