"""Review metrics for the dashboard, /api/v1/metrics/summary and /metrics.

Counts come from the rollups or GROUP BY queries over indexed columns. Time to
decision's median and p90 come from the rollup's log-spaced duration buckets
(domain/durations: within one bucket, about 12 %, of the exact figure). The review
task medians are computed with numpy from the one numeric column they need (SQLite
has no percentile_cont); past SAMPLE_CAP rows in the window, rows are sampled by id
stride.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from signoff.domain import durations, errors
from signoff.domain.error_budget import clopper_pearson_upper
from signoff.domain.states import RouteKind
from signoff.domain.workflow import RoutingMode
from signoff.services import calibration, consensus, oversight
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.services.users import Principal
from signoff.storage import metrics as queries
from signoff.storage import rollups
from signoff.storage import users as user_queries

RANGES: dict[str, timedelta | None] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
DEFAULT_RANGE = "7d"
#: Rows fetched at most for one median/p90; more are sampled by id stride.
SAMPLE_CAP = 50_000
HISTOGRAM_BINS = 20
#: One-sided confidence of the QA-sample bound on the auto error rate.
BOUND_LEVEL = 0.95


@dataclass(frozen=True)
class Scope:
    """Which workflows a summary covers and what the reader called it (None: all they see)."""

    workflow_ids: list[int]
    workflow: str | None
    names: dict[int, str]


def parse_since(ctx: Context, value: str | None) -> tuple[str, datetime | None]:
    """A range key (24h, 7d, 30d, all) or an ISO timestamp, as (label, since)."""
    value = (value or DEFAULT_RANGE).strip()
    if value in RANGES:
        span = RANGES[value]
        return value, (ctx.clock.now() - span) if span is not None else None
    try:
        since = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise errors.ValidationFailed(
            f"since: use one of {list(RANGES)} or an ISO 8601 timestamp", field="since"
        ) from None
    if since.tzinfo is None:
        raise errors.ValidationFailed(
            "since: give a time zone (e.g. 2026-01-01T00:00:00Z)", field="since"
        )
    return since.isoformat(), since


def scope_for(ctx: Context, principal: Principal, workflow: str | None) -> Scope:
    """The workflows `principal` may see, narrowed to `workflow` when given."""
    with ctx.sessions() as session:
        names = queries.workflow_names(session)
    visible = {i: n for i, n in names.items() if principal.may_access(n)}
    if workflow:
        ids = [i for i, n in visible.items() if n == workflow]
        if not ids:
            raise errors.WorkflowNotFound(f"no workflow named {workflow!r}", workflow=workflow)
        return Scope(ids, workflow, visible)
    # Always an explicit list: `workflow_id IN (...)` leads every metrics index.
    return Scope(sorted(visible), None, visible)


def _percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None}
    arr = np.asarray(values, dtype=float)
    median, p90 = np.percentile(arr, [50, 90])
    return {"median": round(float(median), 3), "p90": round(float(p90), 3)}


def _bucketed(counts: Mapping[int, int]) -> dict[str, Any]:
    """Count, median and p90 from duration buckets (never sampled; bucket-exact)."""
    median, p90 = (durations.percentile(counts, q) for q in (50, 90))
    return {
        "n": sum(counts.values()),
        "sampled": False,
        "median": None if median is None else round(median, 3),
        "p90": None if p90 is None else round(p90, 3),
        "resolution": round(durations.WIDTH - 1, 4),
    }


def _rate(part: int | float, whole: int | float) -> float | None:
    return round(part / whole, 4) if whole else None


def qa_estimate(n: int, overridden: int) -> dict[str, Any]:
    """Auto error estimated from QA-sampled items: override rate and its Clopper-Pearson bound."""
    if n == 0:
        return {
            "method": "qa_sample",
            "n": 0,
            "errors": 0,
            "estimate": None,
            "upper_bound": None,
            "confidence_level": BOUND_LEVEL,
        }
    return {
        "method": "qa_sample",
        "n": n,
        "errors": overridden,
        "estimate": round(overridden / n, 4),
        "upper_bound": round(clopper_pearson_upper(overridden, n, BOUND_LEVEL), 4),
        "confidence_level": BOUND_LEVEL,
    }


def _budget_estimate(ctx: Context, name: str) -> dict[str, Any]:
    report = calibration.calibration_report(ctx, name)
    upper = report.get("auto_error_upper_bound")
    return {
        "method": "error_budget",
        "n": report.get("reviewed_above_threshold"),
        "errors": report.get("errors_above_threshold"),
        "estimate": report.get("estimated_auto_error"),
        "upper_bound": upper,
        "confidence_level": report.get("confidence_level"),
        "error_budget": report.get("error_budget"),
        "threshold": report.get("threshold"),
        "within_budget": None if upper is None else upper <= report["error_budget"],
        "reason": report.get("reason"),
    }


def summary(ctx: Context, scope: Scope, since: datetime | None, range_label: str) -> dict[str, Any]:
    """Every dashboard figure for the scope and window, as JSON-ready data."""
    now = ctx.clock.now()
    ids = scope.workflow_ids
    specs = _current_specs(ctx, scope)
    with ctx.sessions() as session:
        decided = rollups.decisions(session, ids, since)
        histogram = rollups.confidence_histogram(session, ids, since, HISTOGRAM_BINS)
        decision_times = rollups.decision_times(session, ids, since)
        reviewers = queries.reviewer_throughput(session, ids, since)
        tot = queries.time_on_task(session, ids, since, SAMPLE_CAP)
        holding = queries.assigned_by_reviewer(session, ids)
        queue = queries.queue_by_workflow(session, ids, now)
        received = rollups.items_received(session, ids, since)
        ops = review_ops(session, ids, since, now)
        watched = oversight.figures(session, ids, scope.names, specs, since)
        emails = {int(u.id): str(u.email) for u in user_queries.list_users(session)}
        agreement = consensus.agreement_figures(session, list(ids), scope.names, emails, since)

    per_wf: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    days: dict[str, dict[str, Any]] = {}
    for row in decided:
        wf = per_wf[row.workflow_id]
        d = days.setdefault(row.day, {"day": row.day, "auto": 0, "human": 0, "overridden": 0})
        route = row.route or "none"
        wf[route] += row.n
        wf["decided"] += row.n
        d[route] = d.get(route, 0) + int(row.n)
        if route == RouteKind.HUMAN.value:
            wf["overridden"] += int(row.overridden)
            d["overridden"] += int(row.overridden)
            if row.qa_sample:
                wf["qa"] += row.n
                wf["qa_overridden"] += int(row.overridden)
    for d in days.values():
        d["override_rate"] = _rate(d["overridden"], d["human"])
    total = {
        k: sum(w[k] for w in per_wf.values())
        for k in ("decided", "auto", "human", "overridden", "qa", "qa_overridden")
    }

    queue_rows: dict[int, dict[str, Any]] = {}
    for row in queue:
        q = queue_rows.setdefault(
            row.workflow_id, {"open": 0, "assigned": 0, "overdue": 0, "oldest": None}
        )
        q[row.status] = int(row.n)
        q["overdue"] += int(row.overdue)
        if row.oldest is not None and (q["oldest"] is None or row.oldest < q["oldest"]):
            q["oldest"] = row.oldest
    oldest = min((q["oldest"] for q in queue_rows.values() if q["oldest"]), default=None)

    workflows = []
    for wf_id in sorted(ids, key=lambda i: scope.names[i]):
        w, q = per_wf.get(wf_id, defaultdict(int)), queue_rows.get(wf_id, {})
        workflows.append(
            {
                "workflow": scope.names[wf_id],
                "decided": w["decided"],
                "auto": w["auto"],
                "human": w["human"],
                "automation_rate": _rate(w["auto"], w["decided"]),
                "override_rate": _rate(w["overridden"], w["human"]),
                "queue_depth": q.get("open", 0) + q.get("assigned", 0),
                "overdue": q.get("overdue", 0),
                "auto_error": auto_error_for(ctx, scope.names[wf_id], w["qa"], w["qa_overridden"]),
                **ops.by_workflow.get(wf_id, dict.fromkeys(TIMER_FIGURES, 0)),
            }
        )

    bins: dict[str, list[int]] = {"auto": [0] * HISTOGRAM_BINS, "human": [0] * HISTOGRAM_BINS}
    for bar in histogram:
        if bar.route in bins and bar.bucket is not None:
            bins[bar.route][min(max(int(bar.bucket), 0), HISTOGRAM_BINS - 1)] += int(bar.n)

    times: dict[int | None, list[float]] = defaultdict(list)
    for assignee, ms in tot:
        times[assignee].append(float(ms))
    reviewer_rows = sorted(
        (
            {
                "reviewer": r.email or f"user {r.assignee_id}",
                "user_id": r.assignee_id,
                "decided": int(r.n),
                "decided_late": int(r.late),
                "median_time_on_task_ms": _percentiles(times.get(r.assignee_id, []))["median"],
                "holding": holding.get(r.assignee_id or -1, 0),
            }
            for r in reviewers
        ),
        key=lambda r: (-r["decided"], r["reviewer"]),
    )

    open_n = sum(q.get("open", 0) for q in queue_rows.values())
    assigned_n = sum(q.get("assigned", 0) for q in queue_rows.values())
    overdue_n = sum(q.get("overdue", 0) for q in queue_rows.values())
    late_n = sum(r["decided_late"] for r in reviewer_rows)
    overall_error = (
        workflows[0]["auto_error"]
        if scope.workflow and workflows
        else qa_estimate(total["qa"], total["qa_overridden"])
    )
    return {
        "workflow": scope.workflow,
        "range": range_label,
        "since": since.isoformat() if since else None,
        "until": now.isoformat(),
        "items_received": received,
        "decisions": {"total": total["decided"], "auto": total["auto"], "human": total["human"]},
        "automation_rate": _rate(total["auto"], total["decided"]),
        "override_rate": _rate(total["overridden"], total["human"]),
        "overridden": total["overridden"],
        "time_to_decision_seconds": {
            route: _bucketed(decision_times.get(route, {}))
            for route in (RouteKind.AUTO.value, RouteKind.HUMAN.value)
        },
        "confidence_histogram": {
            "bin_width": 1 / HISTOGRAM_BINS,
            "edges": [round(b / HISTOGRAM_BINS, 4) for b in range(HISTOGRAM_BINS + 1)],
            **bins,
        },
        "by_day": [days[k] for k in sorted(days)],
        "reviewers": reviewer_rows,
        "queue": {
            "open": open_n,
            "assigned": assigned_n,
            "depth": open_n + assigned_n,
            "oldest_age_seconds": (now - oldest).total_seconds() if oldest else None,
        },
        "sla": {
            "overdue_pending": overdue_n,
            "decided_late": late_n,
            "breaches": overdue_n + late_n,
        },
        "auto_error": overall_error,
        "workflows": workflows,
        "review_ops": ops.public(),
        "oversight": watched,
        "agreement": agreement,
    }


def _current_specs(ctx: Context, scope: Scope) -> dict[int, Any]:
    """Each workflow's current spec (its blind and gold settings), by id."""
    return {
        view.id: view.spec
        for view in workflow_service.list_workflows(ctx)
        if view.id in scope.workflow_ids
    }


#: SLA timer counts reported per workflow (names as in the summary and /metrics).
TIMER_FIGURES = ("reminded", "escalated", "timed_out")
NO_GROUP = "(none)"


@dataclass(frozen=True)
class ReviewOps:
    """Review-operations figures: SLA timers fired, time to first touch, group backlogs."""

    by_workflow: dict[int, dict[str, int]]
    first_touch: dict[str, Any]
    groups: list[dict[str, Any]]

    def public(self) -> dict[str, Any]:
        totals = {k: sum(w[k] for w in self.by_workflow.values()) for k in TIMER_FIGURES}
        return {**totals, "time_to_first_touch_seconds": self.first_touch, "groups": self.groups}


def review_ops(
    session: Session, ids: list[int], since: datetime | None, now: datetime
) -> ReviewOps:
    """Timers fired in the window per workflow, time to first touch, backlog by group now."""
    fired = {
        int(r.workflow_id): {k: int(getattr(r, k)) for k in TIMER_FIGURES}
        for r in queries.timers_fired(session, ids, since)
    }
    touch_s, touch_n = queries.first_touch_seconds(session, ids, since, SAMPLE_CAP)
    rows = sorted(queries.backlog_by_group(session, ids), key=lambda r: (-r.n, r.group_name or ""))
    groups: list[dict[str, Any]] = [
        {
            "group": r.group_name or NO_GROUP,
            "backlog": int(r.n),
            "oldest_age_seconds": (now - r.oldest).total_seconds() if r.oldest else None,
        }
        for r in rows
    ]
    first_touch = {"n": touch_n, "sampled": touch_n > len(touch_s), **_percentiles(touch_s)}
    return ReviewOps(fired, first_touch, groups)


def auto_error_for(ctx: Context, name: str, qa_n: int, qa_overridden: int) -> dict[str, Any]:
    """Error-budget workflows report their calibration; others their QA-sample estimate."""
    spec = workflow_service.get_workflow(ctx, name).spec
    if spec.routing.mode is RoutingMode.ERROR_BUDGET:
        return _budget_estimate(ctx, name)
    return qa_estimate(qa_n, qa_overridden)


#: Upper edges (seconds) of the time-to-decision histogram: a second to a week.
DECISION_SECONDS_EDGES = (
    1.0,
    10.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    14400.0,
    28800.0,
    86400.0,
    259200.0,
    604800.0,
)


@dataclass(frozen=True)
class Histogram:
    """One series of a Prometheus histogram: cumulative bucket counts, their sum and count."""

    buckets: list[tuple[str, float]]
    sum: float
    count: int


Sample = tuple[dict[str, str], float]


def gauges(ctx: Context) -> dict[str, list[Any]]:
    """The cheap aggregates /metrics exposes, as {metric: [(labels, value)]}.

    GROUP BY queries over the decided-items and review-task indexes (the SLA timer
    counts read the timer columns); the auto error bound of an error-budget workflow is
    its cached calibration.
    """
    now = ctx.clock.now()
    with ctx.sessions() as session:
        names = queries.workflow_names(session)
        ids = sorted(names)
        # Gold items are a test of the reviewers, not the application's traffic: like
        # the dashboard, these figures leave them out (their review work still counts).
        by_state = _less(
            queries.items_by_workflow_state(session),
            queries.items_by_workflow_state(session, gold_only=True),
            ("workflow_id", "state"),
        )
        totals = _less(
            queries.decision_totals(session, ids, DECISION_SECONDS_EDGES),
            queries.decision_totals(session, ids, DECISION_SECONDS_EDGES, gold_only=True),
            ("workflow_id", "route", "qa_sample"),
        )
        queue = queries.queue_by_workflow(session, ids, now)
        reviewers = queries.reviewer_totals(session, ids)
        holding = queries.assigned_by_workflow_reviewer(session, ids)
        pending = queries.count_outbox_pending(session)
        fired = queries.timers_fired(session, ids, None)
        touch = queries.first_touch_totals(session)
        backlog = queries.backlog_by_group(session, None)

    def wf(workflow_id: int) -> str:
        return names.get(workflow_id, str(workflow_id))

    oldest: dict[int, datetime] = {}
    for row in queue:
        if row.oldest is not None and (
            row.workflow_id not in oldest or row.oldest < oldest[row.workflow_id]
        ):
            oldest[row.workflow_id] = row.oldest

    by_route: dict[tuple[int, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    qa: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for row in totals:
        route = row.route or "none"
        acc = by_route[(row.workflow_id, route)]
        acc["n"] += row.n
        acc["overridden"] += row.overridden
        acc["seconds"] += float(row.seconds or 0.0)
        for n in range(len(DECISION_SECONDS_EDGES)):
            acc[f"le_{n}"] += getattr(row, f"le_{n}")
        if route == RouteKind.HUMAN.value and row.qa_sample:
            qa[row.workflow_id][0] += int(row.n)
            qa[row.workflow_id][1] += int(row.overridden)

    def histogram(acc: dict[str, float]) -> Histogram:
        buckets = [(str(edge), acc[f"le_{n}"]) for n, edge in enumerate(DECISION_SECONDS_EDGES)]
        return Histogram([*buckets, ("+Inf", acc["n"])], acc["seconds"], int(acc["n"]))

    bounds: list[Sample] = []
    budgets: list[Sample] = []
    for wf_id in ids:
        estimate = auto_error_for(ctx, names[wf_id], *qa.get(wf_id, [0, 0]))
        if estimate["upper_bound"] is not None:
            labels = {"workflow": names[wf_id], "method": estimate["method"]}
            bounds.append((labels, estimate["upper_bound"]))
        if estimate.get("error_budget") is not None:
            budgets.append(({"workflow": names[wf_id]}, estimate["error_budget"]))

    def reviewer(row: Any) -> dict[str, str]:
        # User ids, not emails: /metrics answers without a key (docs/security.md).
        return {"workflow": wf(row.workflow_id), "reviewer_id": str(row.assignee_id)}

    return {
        "items": [({"workflow": wf(r.workflow_id), "state": r.state}, r.n) for r in by_state],
        "decisions": [
            ({"workflow": wf(w), "route": route}, acc["n"]) for (w, route), acc in by_route.items()
        ],
        # Counters start at 0 for every workflow, so that increase() sees the first one.
        "overrides": [
            ({"workflow": wf(w)}, by_route.get((w, RouteKind.HUMAN.value), {}).get("overridden", 0))
            for w in ids
        ],
        "time_to_decision": [
            ({"workflow": wf(w), "route": route}, histogram(acc))
            for (w, route), acc in by_route.items()
        ],
        "auto_error_upper_bound": bounds,
        "auto_error_budget": budgets,
        "queue_depth": [({"workflow": wf(r.workflow_id), "status": r.status}, r.n) for r in queue],
        "queue_overdue": [
            ({"workflow": wf(r.workflow_id), "status": r.status}, r.overdue) for r in queue
        ],
        "queue_oldest_age": [
            ({"workflow": wf(w)}, (now - o).total_seconds()) for w, o in oldest.items()
        ],
        "reviewer_decisions": [(reviewer(r), r.n) for r in reviewers if r.assignee_id is not None],
        "reviewer_assigned": [(reviewer(r), r.n) for r in holding if r.assignee_id is not None],
        "decided_late": _per_workflow(ids, wf, reviewers, "late"),
        "outbox_pending": [({}, pending)],
        **{
            # Every workflow gets a series (0 until a timer fires), so rates start at 0.
            f"tasks_{kind}": _per_workflow(ids, wf, fired, kind)
            for kind in TIMER_FIGURES
        },
        "first_touch": [
            ({"workflow": wf(r.workflow_id)}, (int(r.n), float(r.seconds))) for r in touch
        ],
        "group_backlog": [({"group": r.group_name or NO_GROUP}, r.n) for r in backlog],
        "group_oldest_age": [
            ({"group": r.group_name or NO_GROUP}, (now - r.oldest).total_seconds())
            for r in backlog
            if r.oldest is not None
        ],
    }


def _less(rows: Sequence[Any], taken: Sequence[Any], keys: tuple[str, ...]) -> list[Any]:
    """Grouped counts `rows` less the same groups' counts in `taken`; empty groups go."""
    if not taken:
        return list(rows)
    out = {tuple(getattr(r, k) for k in keys): dict(r._mapping) for r in rows}
    for row in taken:
        group = out.get(tuple(getattr(row, k) for k in keys))
        if group is None:
            continue
        for name, value in row._mapping.items():
            if name not in keys and value is not None:
                group[name] = (group[name] or 0) - value
    return [SimpleNamespace(**g) for g in out.values() if g.get("n")]


def _per_workflow(ids: Sequence[int], wf: Any, rows: Sequence[Any], column: str) -> list[Sample]:
    """`column` summed per workflow, 0 for a workflow without rows."""
    summed: dict[int, float] = dict.fromkeys(ids, 0.0)
    for row in rows:
        summed[row.workflow_id] = summed.get(row.workflow_id, 0.0) + getattr(row, column)
    return [({"workflow": wf(w)}, value) for w, value in summed.items()]
