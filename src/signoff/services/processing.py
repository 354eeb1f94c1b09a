"""The AI step: claim items with a lease, predict outside any transaction, route, record."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from signoff.ai import base as ai
from signoff.domain import assignment as assignment_rules
from signoff.domain import audit as audit_rules
from signoff.domain import errors, oversight, review_order, routing
from signoff.domain.prediction import Prediction, Route
from signoff.domain.review_ops import NotifyEvent
from signoff.domain.states import ItemState, RouteKind, TaskStatus
from signoff.domain.workflow import WorkflowSpec
from signoff.services import (
    assignment,
    calibration,
    consensus,
    decisions,
    gold,
    notifications,
    stop_switch,
    training,
)
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.storage import engine, items, state, tasks

log = logging.getLogger(__name__)

MAX_RETRY_SLEEP = 30.0


class ProviderCache:
    """One provider instance per workflow version, shared by a process's worker threads."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._providers: dict[tuple[int, int], ai.Provider] = {}
        self._context = ai.ProviderContext(
            secrets=ctx.secret, model_store=training.ModelStore(ctx), settings=ctx.settings
        )

    def get(self, workflow_id: int, version: int, spec: WorkflowSpec) -> ai.Provider:
        key = (workflow_id, version)
        with self._lock:
            provider = self._providers.get(key)
            if provider is None:
                provider = ai.create_provider(spec, self._context)
                self._providers[key] = provider
            return provider


@dataclass
class _Work:
    item_id: int
    workflow_id: int
    version: int
    content: dict[str, Any]
    metadata: dict[str, Any]
    external_id: str | None = None
    #: A gold item's known label: it always goes to a person.
    gold_label: str | None = None


def claim_batch(ctx: Context, owner: str, limit: int) -> list[_Work]:
    """Lease up to `limit` ready items to `owner` (one transaction)."""
    now = ctx.clock.now()
    lease_until = now + timedelta(seconds=ctx.settings.worker.lease_seconds)
    with engine.transaction(ctx.sessions) as session:
        rows = items.claim_items(session, owner, now, lease_until, limit)
        if not rows:
            return []
        changes = [
            state.StateChange(
                item_id=r.id,
                expected=ItemState(r.state),
                target=ItemState.PROCESSING,
                event=audit_rules.EventKind.CLAIMED
                if r.state == ItemState.RECEIVED.value
                else audit_rules.EventKind.LEASE_RECOVERED,
                actor=f"worker:{owner}",
                data={"attempt": r.attempts + 1, "previous_owner": r.lease_owner}
                if r.lease_owner
                else {"attempt": r.attempts + 1},
                values={
                    "lease_owner": owner,
                    "lease_expires_at": lease_until,
                    "attempts": r.attempts + 1,
                },
                head=(r.audit_seq, r.audit_hash),
            )
            for r in rows
        ]
        applied = state.set_item_states(session, changes, now)
        if not applied:
            return []
        loaded = items.read_items_for_processing(session, [c.item_id for c in applied])
    return [
        _Work(
            r.id,
            r.workflow_id,
            r.workflow_version,
            r.content,
            r.metadata,
            r.external_id,
            r.gold_label,
        )
        for r in sorted(loaded, key=lambda r: r.id)
    ]


class LeaseKeeper:
    """Renews a worker's leases while a long batch is still at the AI step.

    Without it, a batch that takes longer than the lease is reclaimed by another
    worker and predicted twice (the late result is then discarded).
    """

    def __init__(self, ctx: Context, owner: str, item_ids: list[int]) -> None:
        self._ctx = ctx
        self._owner = owner
        self._ids = item_ids
        self._lease = timedelta(seconds=ctx.settings.worker.lease_seconds)
        self._renew_at = ctx.clock.now() + self._lease / 2

    def tick(self) -> None:
        now = self._ctx.clock.now()
        if now < self._renew_at:
            return
        with engine.transaction(self._ctx.sessions) as session:
            items.extend_leases(session, self._ids, self._owner, now, now + self._lease)
        self._renew_at = now + self._lease / 2


def reraise_shutdown(exc: BaseException) -> None:
    """Re-raise `exc` when it is the process being stopped, not provider code failing.

    Signals (Ctrl-C, SIGTERM handlers that call sys.exit) reach only the main thread;
    the same exceptions in a worker thread come from the code that thread ran.
    """
    if isinstance(exc, KeyboardInterrupt | SystemExit) and (
        threading.current_thread() is threading.main_thread()
    ):
        raise exc


def describe_failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def predict_with_retries(
    provider: ai.Provider,
    inputs: list[ai.AiInput],
    spec: WorkflowSpec,
    ctx: Context,
    keeper: LeaseKeeper | None = None,
) -> list[Prediction]:
    """Predictions for every input; failures after the retries become error predictions."""
    if len(inputs) > 1 and isinstance(provider, ai.BatchProvider):
        try:
            return provider.predict_batch(inputs)
        except BaseException as exc:  # provider code may raise anything, SystemExit included
            reraise_shutdown(exc)
            log.warning(
                "action=batch_predict_failed provider=%s error=%s",
                provider.name,
                describe_failure(exc),
            )
    return [_predict_one(provider, i, spec, ctx, keeper) for i in inputs]


def _predict_one(
    provider: ai.Provider,
    item: ai.AiInput,
    spec: WorkflowSpec,
    ctx: Context,
    keeper: LeaseKeeper | None,
) -> Prediction:
    last = "unknown error"
    waited = 0.0
    for attempt in range(spec.ai.retries + 1):
        if keeper is not None:
            keeper.tick()
        try:
            prediction = provider.predict(item)
        except errors.ProviderError as exc:
            last = exc.detail
            log.warning(
                "action=ai_failed item_id=%s provider=%s attempt=%s retryable=%s",
                item.item_id,
                provider.name,
                attempt + 1,
                exc.retryable,
            )
            # An open circuit fails fast: waiting out its cool-down item after item is
            # what kept people waiting for minutes while the model was rate limited.
            if (
                not exc.retryable
                or attempt == spec.ai.retries
                or isinstance(exc, errors.CircuitOpen)
            ):
                break
            delay = spec.ai.backoff_seconds * (2**attempt) * (0.5 + ctx.rng.random())
            if exc.retry_after is not None:
                delay = max(delay, exc.retry_after)
            delay = min(delay, MAX_RETRY_SLEEP)
            if waited + delay > spec.ai.retry_budget_seconds:
                break  # the workflow's patience is spent: a person gets the item now
            waited += delay
            time.sleep(delay)
            continue
        except BaseException as exc:  # a provider bug, sys.exit(), ...: not worth a retry
            reraise_shutdown(exc)
            last = f"{provider.name} raised {describe_failure(exc)}"
            log.warning(
                "action=ai_crashed item_id=%s provider=%s error=%s",
                item.item_id,
                provider.name,
                describe_failure(exc),
            )
            break
        return prediction
    return Prediction.failed(provider.name, last)


def process_batch(ctx: Context, owner: str, providers: ProviderCache, limit: int) -> int:
    """Claim, predict, route and record one batch; returns how many items were claimed."""
    work = claim_batch(ctx, owner, limit)
    if not work:
        return 0
    groups: dict[tuple[int, int], list[_Work]] = defaultdict(list)
    for w in work:
        groups[(w.workflow_id, w.version)].append(w)
    results: list[tuple[_Work, WorkflowSpec, Prediction]] = []
    keeper = LeaseKeeper(ctx, owner, [w.item_id for w in work])
    for (workflow_id, version), group in groups.items():
        spec = workflow_service.get_spec(ctx, workflow_id, version)
        try:
            inputs = [
                ai.AiInput(
                    w.item_id, ai.text_of(w.content, spec.ai.text_field), w.content, w.metadata
                )
                for w in group
            ]
            provider = providers.get(workflow_id, version, spec)
            predictions = predict_with_retries(provider, inputs, spec, ctx, keeper)
        except BaseException as exc:  # e.g. a provider that cannot be built or imported
            reraise_shutdown(exc)
            detail = exc.detail if isinstance(exc, errors.SignoffError) else describe_failure(exc)
            log.warning("action=provider_unavailable workflow_id=%s error=%s", workflow_id, detail)
            predictions = [Prediction.failed(spec.ai.provider, detail) for _ in group]
        results.extend(zip(group, [spec] * len(group), predictions, strict=True))
    record_results(ctx, owner, results)
    return len(work)


@dataclass
class _Outcome:
    """What recording one item writes: its state change and, for a person, a review task."""

    change: state.StateChange
    task: dict[str, Any] | None
    #: For a task: its workflow and where assignment sends it.
    spec: WorkflowSpec | None = None
    target: assignment_rules.Target | None = None
    #: For an automatic decision: the workflow (spec, id) whose `item.decided` rules apply.
    decided_in: tuple[WorkflowSpec, int] | None = None


def record_results(
    ctx: Context, owner: str, results: list[tuple[_Work, WorkflowSpec, Prediction]]
) -> None:
    """Route each prediction and write the outcome, if this worker still holds the lease.

    One item that cannot be routed or written never holds back the others: the batch
    is written in one transaction, and if that fails each item is written on its own;
    an item that still fails goes to a person with reason `ai_error`.
    """
    now = ctx.clock.now()
    thresholds: dict[int, float | None] = {}
    # Read for every batch, from the database: a pause reaches this worker within one batch.
    paused = set(stop_switch.pauses(ctx, sorted({w.workflow_id for w, _s, _p in results})))
    label_counts: dict[int, dict[str, int]] = {}
    outcomes: list[_Outcome] = []
    for w, spec, prediction in results:
        try:
            outcomes.append(
                _outcome_for(ctx, owner, w, spec, prediction, thresholds, now, paused, label_counts)
            )
        except Exception as exc:
            log.exception("action=route_failed item_id=%s", w.item_id)
            outcomes.append(_failed_outcome(owner, w, spec, exc, now))
    try:
        written = _write(ctx, outcomes, now)
    except Exception:
        log.exception("action=record_batch_failed owner=%s items=%s", owner, len(outcomes))
        written = []
        for (w, spec, _prediction), outcome in zip(results, outcomes, strict=True):
            written.extend(_write_alone(ctx, owner, w, spec, outcome, now))
    lost = len(outcomes) - len(written)
    if lost:
        log.warning("action=lease_lost owner=%s items=%s", owner, lost)
    decided = [
        o.change.item_id
        for o in written
        if o.change.target in (ItemState.APPROVED, ItemState.REJECTED)
    ]
    if decided:
        ctx.bus.publish("items_decided", {"item_ids": decided})
    created = sum(1 for o in written if o.task is not None)
    if created:
        ctx.bus.publish("tasks_created", {"count": created})
    _mix_in_gold(ctx, written, {w.item_id: w for w, _s, _p in results})


def _mix_in_gold(ctx: Context, written: list[_Outcome], work: dict[int, _Work]) -> None:
    """New application tasks make room for gold items at the workflows' `gold_rate`."""
    specs: dict[int, WorkflowSpec] = {}
    for o in written:
        w = work.get(o.change.item_id)
        if o.task is None or o.spec is None or w is None or w.gold_label is not None:
            continue
        if o.spec.review.gold_rate > 0:
            specs[w.workflow_id] = o.spec
    for workflow_id, spec in sorted(specs.items()):
        try:
            gold.release_due(ctx, workflow_id, spec)
        except Exception:  # gold is a sample: a failure here never loses the batch
            log.exception("action=gold_release_failed workflow_id=%s", workflow_id)


def _outcome_for(
    ctx: Context,
    owner: str,
    w: _Work,
    spec: WorkflowSpec,
    prediction: Prediction,
    thresholds: dict[int, float | None],
    now: datetime,
    paused: set[int],
    label_counts: dict[int, dict[str, int]],
) -> _Outcome:
    if w.workflow_id not in thresholds:
        thresholds[w.workflow_id] = calibration.threshold_in_force(ctx, w.workflow_id, spec)
    verdict = routing.route(
        prediction,
        spec.routing,
        metadata=w.metadata,
        qa_draw=ctx.rng.random(),
        threshold=thresholds[w.workflow_id],
        labels=spec.labels,
    )
    if w.workflow_id in paused:
        verdict = routing.paused(verdict)
    if w.gold_label is not None and verdict.kind is not RouteKind.HUMAN:
        # A gold item reaches a person looking like any QA-sampled item.
        verdict = Route(RouteKind.HUMAN, (routing.RouteReason.QA_SAMPLE,), verdict.threshold)
    change = _change_for(owner, w, spec, prediction, verdict, now)
    if verdict.kind is not RouteKind.HUMAN:
        return _Outcome(change, None, decided_in=(spec, w.workflow_id))
    due_in = spec.review.due_in()
    due = now + due_in if due_in is not None else None
    target = assignment_rules.target_for(spec.review.assignment, prediction.label, w.metadata)
    row = _task_row(w, now, due, target)
    order = spec.review.queue_order()
    if order is not review_order.QueueOrder.DUE:
        counts = None
        if order is review_order.QueueOrder.RAREST_LABEL:
            if w.workflow_id not in label_counts:
                label_counts[w.workflow_id] = training.label_counts(ctx, w.workflow_id)
            counts = label_counts[w.workflow_id]
        row["priority"] = review_order.task_priority(
            order, prediction.confidence, prediction.label, counts
        )
        row["learn_until"] = review_order.learn_until(order, due, spec.review.margin())
    return _Outcome(change, row, spec, target)


def _failed_outcome(
    owner: str, w: _Work, spec: WorkflowSpec, exc: BaseException, now: datetime
) -> _Outcome:
    """Send the item to a person (`ai_error`, no due time) when its outcome cannot be recorded."""
    prediction = Prediction.failed(spec.ai.provider, f"recording failed: {describe_failure(exc)}")
    verdict = routing.route(
        prediction, spec.routing, metadata={}, qa_draw=1.0, threshold=None, labels=spec.labels
    )
    target = assignment_rules.target_for(spec.review.assignment, None, {})
    return _Outcome(
        _change_for(owner, w, spec, prediction, verdict, now),
        _task_row(w, now, None, target),
        spec,
        target,
    )


def _task_row(
    w: _Work, now: datetime, due: datetime | None, target: assignment_rules.Target
) -> dict[str, Any]:
    return {
        "item_id": w.item_id,
        "workflow_id": w.workflow_id,
        "status": TaskStatus.OPEN.value,
        "created_at": now,
        "due_at": due,
        "group_name": target.group,
        # Every row has every key: the batch is one executemany.
        "priority": None,
        "learn_until": None,
    }


def _write(ctx: Context, outcomes: list[_Outcome], now: datetime) -> list[_Outcome]:
    """Write outcomes in one transaction; returns those whose lease still held."""
    for outcome in outcomes:
        outcome.change.head = None  # read afresh, locked, in this transaction
    with engine.transaction(ctx.sessions) as session:
        changes = [_with_notices(session, ctx, o, now) for o in outcomes]
        applied = {c.item_id for c in state.set_item_states(session, changes, now)}
        written = [o for o in outcomes if o.change.item_id in applied]
        tasks.create_tasks(
            session,
            [
                row
                for o in written
                if o.task is not None and o.spec is not None
                for row in consensus.task_rows(o.spec, o.task)
            ],
        )
        _assign(session, ctx, written, now)
    return written


def _assign(session: Any, ctx: Context, written: list[_Outcome], now: datetime) -> None:
    """Run the assignment strategies on the tasks just created (same transaction)."""
    todo = [
        o
        for o in written
        if o.task is not None and o.spec is not None and assignment.needs_pass(o.spec)
    ]
    if not todo:
        return
    ids = tasks.list_new_tasks(session, [o.change.item_id for o in todo])
    assignment.assign_new_tasks(
        session,
        ctx,
        [
            assignment.NewTask(
                task_id=task_id,
                item_id=o.change.item_id,
                workflow_id=o.task["workflow_id"],
                spec=o.spec,
                target=o.target or assignment_rules.Target(None),
            )
            for o in todo
            if o.task is not None and o.spec is not None
            for task_id in ids.get(o.change.item_id, [])
        ],
        now,
    )


def _with_notices(
    session: Session, ctx: Context, outcome: _Outcome, now: datetime
) -> state.StateChange:
    """The change, plus the workflow's `item.decided` notifications for an auto decision."""
    if outcome.decided_in is None:
        return outcome.change
    spec, workflow_id = outcome.decided_in
    notices = notifications.messages_for(
        session,
        ctx,
        NotifyEvent.ITEM_DECIDED,
        spec=spec,
        workflow_id=workflow_id,
        task_id=None,
        item_id=outcome.change.item_id,
        now=now,
        data={"outcome": outcome.change.data.get("outcome")},
    )
    if not notices:
        return outcome.change
    return dataclasses.replace(outcome.change, outbox=[*outcome.change.outbox, *notices])


def _write_alone(
    ctx: Context, owner: str, w: _Work, spec: WorkflowSpec, outcome: _Outcome, now: datetime
) -> list[_Outcome]:
    """Write one item's outcome; if that fails, its `ai_error` fallback; if that fails, nothing.

    An item left unwritten keeps its lease until it expires and is then claimed again.
    """
    try:
        return _write(ctx, [outcome], now)
    except Exception as exc:
        log.exception("action=record_failed item_id=%s", w.item_id)
        fallback = _failed_outcome(owner, w, spec, exc, now)
    try:
        return _write(ctx, [fallback], now)
    except Exception:
        log.exception("action=record_failed item_id=%s fallback=ai_error", w.item_id)
        return []


def _change_for(
    owner: str,
    w: _Work,
    spec: WorkflowSpec,
    prediction: Prediction,
    verdict: Route,
    now: datetime,
) -> state.StateChange:
    values: dict[str, Any] = {
        "ai_label": prediction.label,
        "confidence": prediction.confidence,
        "prediction": prediction.to_json(),
        "route": verdict.kind.value,
        "route_reasons": list(verdict.reasons),
        "threshold": verdict.threshold,
        "qa_sample": routing.RouteReason.QA_SAMPLE in verdict.reasons,
        "routed_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    summary = {
        "label": prediction.label,
        "confidence": prediction.confidence,
        "model": prediction.model,
        "model_version": prediction.model_version,
        "error": prediction.error,
        "route": verdict.kind.value,
        "reasons": list(verdict.reasons),
    }
    if verdict.kind is RouteKind.HUMAN:
        if oversight.is_blind(w.item_id, spec.review.blind_rate):
            # Audited with the routing: the choice is a hash of the item id, so reproducible.
            values["blind"] = True
            summary["blind"] = True
        return state.StateChange(
            item_id=w.item_id,
            expected=ItemState.PROCESSING,
            target=ItemState.IN_REVIEW,
            event=audit_rules.EventKind.ROUTED_TO_REVIEW,
            actor="ai",
            data=summary,
            values=values,
            lease_owner=owner,
        )
    outcome = spec.review.outcome_for(prediction.label)
    entities = list(values["prediction"]["entities"])
    decision = decisions.DecisionRecord(
        outcome=outcome,
        label=prediction.label,
        entities=entities,
        decided_by="ai",
        comment=None,
        decided_at=now,
        override=False,
    )
    values.update(decision.columns())
    return state.StateChange(
        item_id=w.item_id,
        expected=ItemState.PROCESSING,
        target=ItemState(spec.final_state_for(outcome)),
        event=audit_rules.EventKind.AUTO_DECIDED,
        actor="ai",
        data={**summary, "outcome": outcome},
        values=values,
        lease_owner=owner,
        outbox=decisions.delivery_messages(
            spec, w.workflow_id, w.item_id, decision, {**values, "external_id": w.external_id}
        ),
    )
