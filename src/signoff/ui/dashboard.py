"""The metrics dashboard: the summary's figures as tiles, tables and inline SVG charts."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from signoff.services import metrics
from signoff.ui import charts, render, security
from signoff.web import CtxDep

router = APIRouter(prefix="/ui", dependencies=[Depends(security.verify_csrf)])

MAX_DAYS = 120
#: Axis units for durations, largest first: (suffix, seconds).
TIME_UNITS = [("d", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0)]


def _days(by_day: list[dict[str, Any]], since: str | None, until: str) -> list[dict[str, Any]]:
    """One row per calendar day of the window (missing days count zero)."""
    known = {d["day"]: d for d in by_day}
    last = date.fromisoformat(until[:10])
    first = (
        date.fromisoformat(since[:10])
        if since
        else date.fromisoformat(min(known))
        if known
        else last
    )
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    out = []
    day = first
    while day <= last:
        key = day.isoformat()
        out.append(
            known.get(
                key, {"day": key, "auto": 0, "human": 0, "overridden": 0, "override_rate": None}
            )
        )
        day += timedelta(days=1)
    return out


def build_charts(summary: dict[str, Any]) -> dict[str, charts.Chart]:
    """Every chart on the dashboard, from the summary alone."""
    hist = summary["confidence_histogram"]
    edges = hist["edges"]
    categories = [f"{edges[i]:.2f}" for i in range(len(edges) - 1)]
    titles = [f"confidence {edges[i]:.2f}–{edges[i + 1]:.2f}" for i in range(len(edges) - 1)]
    days = _days(summary["by_day"], summary["since"], summary["until"])
    day_names = [d["day"][5:] for d in days]
    rates = [d.get("override_rate") for d in days]
    rate_top = max(0.1, math.ceil(max((r for r in rates if r is not None), default=0) * 10) / 10)
    ttd = summary["time_to_decision_seconds"]
    longest = max([ttd[r][k] or 0.0 for r in ("auto", "human") for k in ("median", "p90")])
    unit, scale = next(((u, s) for u, s in TIME_UNITS if longest >= s * 2), TIME_UNITS[-1])
    ttd_rows = [
        (
            f"{who} {stat}",
            (ttd[route][stat] or 0.0) / scale,
            f"s-{route}",
            f"{who} {stat}: {render.duration(ttd[route][stat])}",
        )
        for who, route in (("AI", "auto"), ("Human", "human"))
        for stat in ("median", "p90")
    ]
    reviewers = summary["reviewers"][:12]
    return {
        "histogram": charts.stacked_bars(
            categories,
            [("auto", "s-auto", hist["auto"]), ("human", "s-human", hist["human"])],
            titles,
        ),
        "throughput": charts.stacked_bars(
            day_names,
            [
                ("auto", "s-auto", [d.get("auto", 0) for d in days]),
                ("human", "s-human", [d.get("human", 0) for d in days]),
            ],
            [d["day"] for d in days],
        ),
        "override": charts.line(day_names, rates, lambda v: render.pct(v, 0), top=rate_top),
        "ttd": charts.hbars(ttd_rows, lambda v: f"{v:g} {unit}"),
        "reviewers": charts.hbars(
            [
                (
                    r["reviewer"],
                    r["decided"],
                    "s-human",
                    f"{r['reviewer']}: {r['decided']} decided, median time on task "
                    f"{render.duration((r['median_time_on_task_ms'] or 0) / 1000)}",
                )
                for r in reviewers
            ],
            lambda v: f"{v:,.0f}",
        ),
    }


@router.get("/dashboard")
def dashboard(
    request: Request,
    ctx: CtxDep,
    principal: security.OverseerUI,
    workflow: str | None = None,
    window: str = Query(default=metrics.DEFAULT_RANGE, alias="range"),
) -> Response:
    """Per-workflow or overall metrics for 24h, 7d, 30d or all time."""
    if window not in metrics.RANGES:
        window = metrics.DEFAULT_RANGE
    label, since = metrics.parse_since(ctx, window)
    scope = metrics.scope_for(ctx, principal, workflow or None)
    summary = metrics.summary(ctx, scope, since, label)
    return render.render(
        request,
        "dashboard.html",
        {
            "title": "Dashboard",
            "s": summary,
            "charts": build_charts(summary),
            "ranges": list(metrics.RANGES),
            "range": label,
            "workflow": workflow or "",
            "workflows": sorted(scope.names.values()),
        },
    )
