"""SLA timer sweep time with 100,000 open review tasks on PostgreSQL.

`python -m bench.timers` rewrites the "SLA timer sweep" section of
docs/benchmarks.md in place; `make bench` (bench.run) includes it too. The tasks
are bulk-inserted (items in review with their task, as the AI step leaves them);
the sweep is `services.timers.sweep` on the injectable clock, as a worker runs it.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import sections
from signoff.clock import FrozenClock
from signoff.services import timers
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.storage import engine
from signoff.storage import tables as t

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## SLA timer sweep"
TASKS = 100_000
SWEEPS = 5
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

WORKFLOW = """
name: bench-sla
labels: [invoice, other]
ai: {provider: python, options: {function: "bench.trivial:classify"}}
routing: {threshold: 1.0}
review:
  outcomes: [approved, rejected]
  sla: {due_in: 4h, remind_after: 1h, escalate_after: 8h, escalate_to: leads,
        on_timeout: {after: 24h, outcome: rejected}}
notify:
  - {channel: pagerduty, routing_key_env: SIGNOFF_CREDENTIAL_PD_KEY,
     on: [task.escalated, task.timed_out, task.decided]}
"""


def _fill(ctx: Context, n: int) -> int:
    """`n` items in review, each with an open task created at START; the workflow id."""
    view, _ = workflow_service.apply_workflow(ctx, WORKFLOW, "bench")
    created = START
    chunk = 10_000
    with engine.transaction(ctx.sessions) as session:
        for start in range(0, n, chunk):
            session.execute(
                sa.insert(t.items),
                [
                    {
                        "workflow_id": view.id,
                        "workflow_version": view.version,
                        "content": {"text": f"invoice {i}"},
                        "metadata": {},
                        "state": "in_review",
                        "created_at": created,
                        "updated_at": created,
                        "ai_label": "invoice",
                        "confidence": 0.5,
                        "route": "human",
                    }
                    for i in range(start, min(start + chunk, n))
                ],
            )
        ids = list(session.execute(sa.select(t.items.c.id).order_by(t.items.c.id)).scalars())
        for start in range(0, n, chunk):
            session.execute(
                sa.insert(t.review_tasks),
                [
                    {
                        "item_id": item_id,
                        "workflow_id": view.id,
                        "status": "open",
                        "created_at": created,
                        "due_at": created + timedelta(hours=4),
                    }
                    for item_id in ids[start : start + chunk]
                ],
            )
    with ctx.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("ANALYZE items"))
            connection.execute(sa.text("ANALYZE review_tasks"))
            connection.commit()
    return view.id


def _sweeps(ctx: Context, clock: FrozenClock, at: timedelta, n: int) -> dict[str, Any]:
    clock_at = START + at
    seconds, fired = [], []
    for _ in range(n):
        clock.advance(seconds=(clock_at - clock.now()).total_seconds())
        started = time.perf_counter()
        result = timers.sweep(ctx)
        seconds.append(time.perf_counter() - started)
        fired.append(result.total)
    return {
        "median_ms": statistics.median(seconds) * 1000,
        "max_ms": max(seconds) * 1000,
        "fired_per_sweep": statistics.median(fired),
    }


def measure(ctx: Context, clock: FrozenClock, n: int = TASKS) -> dict[str, Any]:
    """Sweep times: nothing due; reminders due; the steady state after; timeouts due."""
    ctx.clock = clock
    workflow_id = _fill(ctx, n)
    batch = ctx.settings.timers.batch_size
    out: dict[str, Any] = {"tasks": n, "batch_size": batch, "load_before": os.getloadavg()[0]}
    out["idle"] = _sweeps(ctx, clock, timedelta(minutes=30), SWEEPS)
    out["reminders"] = _sweeps(ctx, clock, timedelta(hours=2), SWEEPS)
    with engine.transaction(ctx.sessions) as session:
        # Every task reminded but the last `batch`: the index skips the reminded ones.
        session.execute(
            sa.update(t.review_tasks)
            .where(t.review_tasks.c.workflow_id == workflow_id)
            .values(reminded_at=START + timedelta(hours=1))
        )
        last = session.execute(
            sa.select(t.review_tasks.c.id).order_by(t.review_tasks.c.id.desc()).limit(batch)
        ).scalars()
        session.execute(
            sa.update(t.review_tasks)
            .where(t.review_tasks.c.id.in_(list(last)))
            .values(reminded_at=None)
        )
    out["steady"] = _sweeps(ctx, clock, timedelta(hours=2), 1) | {
        "idle_after_ms": _sweeps(ctx, clock, timedelta(hours=2), SWEEPS)["median_ms"]
    }
    out["escalations"] = _sweeps(ctx, clock, timedelta(hours=9), SWEEPS)
    out["timeouts"] = _sweeps(ctx, clock, timedelta(hours=25), 3)
    out["load_after"] = os.getloadavg()[0]
    return out


def render(r: dict[str, Any]) -> list[str]:
    cpu = platform.processor() or platform.machine()

    def row(name: str, key: str, extra: str = "") -> str:
        s = r[key]
        return (
            f"| {name} | {s['fired_per_sweep']:.0f} | {s['median_ms']:.0f} ms | "
            f"{s['max_ms']:.0f} ms | {extra} |"
        )

    return [
        HEADING,
        "",
        f"Measured by `python -m bench.timers` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()}, PostgreSQL.",
        f"{r['tasks']:,} open review tasks of one workflow with `remind_after: 1h`,",
        "`escalate_after: 8h` and `on_timeout.after: 24h`; one sweep is",
        "`services.timers.sweep` as a worker runs it, at most "
        f"`SIGNOFF_TIMERS__BATCH_SIZE={r['batch_size']}` timers of each kind per sweep",
        "(a worker sweeps again at once after a full batch). Target: a sweep ≤ 1 s.",
        f"The machine is shared: 1-minute load average {r['load_before']:.1f} before, "
        f"{r['load_after']:.1f} after.",
        "",
        "| the clock is at | timers fired | sweep (median) | slowest | note |",
        "| --- | --- | --- | --- | --- |",
        row("30 min: nothing due", "idle"),
        row("2 h: every task's reminder due", "reminders", "one transaction per batch"),
        row(
            "2 h, all but the last batch already reminded",
            "steady",
            f"then nothing due: {r['steady']['idle_after_ms']:.0f} ms",
        ),
        row("9 h: escalations due", "escalations"),
        row(
            "25 h: escalations and timeouts due",
            "timeouts",
            "one transaction for each batch",
        ),
        "",
        "Each due-task query is a range scan on a partial index of migration 0005",
        "(pending tasks whose timer has not fired, by workflow and creation time), so",
        "the time of a sweep follows the timers it fires, not the tasks waiting.",
        "The workflow has one `notify` rule (PagerDuty on escalation, timeout and decision),",
        "so each of those firings also writes its outbox row (never sent here). Building a",
        "notification reads the item, task and assignee again (`notifications.messages_for`),",
        "a few milliseconds per firing on a loaded machine: most of an escalation's cost.",
        "",
    ]


write_section = sections.write_section


def run(n: int = TASKS) -> dict[str, Any]:
    """Measure on a fresh PostgreSQL database."""
    from bench.run import Database  # bench.run imports this module

    with Database("postgresql") as ctx:
        return measure(ctx, FrozenClock(START), n)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else TASKS
    results = run(n)
    print(results, flush=True)
    write_section(ROOT / "docs" / "benchmarks.md", render(results))
    print("written docs/benchmarks.md")


if __name__ == "__main__":
    main()
