"""Claim latency with 50 reviewers over HTTP against a live `signoff serve` on PostgreSQL.

The backlog (100,000 open tasks by default) is seeded with one SQL statement per
table; then each reviewer loops claim → decide, and every claim's round trip is
timed. Per strategy: `pull` claims from the pool in due order; the assigning
strategies seed the tasks already assigned the way the strategy spreads them, so a
claim returns the reviewer's next assigned task.

`python -m bench.claims [TASKS]` runs every configuration of RUNS and writes the
"Claims" section of docs/benchmarks.md; `make bench` (bench.run) runs it with the rest.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench import sections
from signoff.domain.states import Role
from signoff.services import groups, review, users
from signoff.services import workflows as workflow_service
from signoff.services.context import Context

ROOT = Path(__file__).resolve().parents[1]
REVIEWERS = 50
CLAIMS_EACH = 20
#: Seconds a reviewer pauses after a decision in the paced runs (0.5–1.5× of it).
PAUSE = 1.0
#: A pace closer to people's, who read an item for seconds to minutes.
SLOW_PAUSE = 5.0
STRATEGIES = ("pull", "round_robin", "least_loaded", "skill")
#: (strategy, pause seconds, serve processes) of one full run.
RUNS = (
    [(s, 0.0, 1) for s in STRATEGIES]
    + [(s, PAUSE, 1) for s in STRATEGIES]
    + [(s, PAUSE, 2) for s in ("pull", "round_robin")]
    + [(s, SLOW_PAUSE, n) for n in (1, 2) for s in ("pull", "round_robin")]
)

_ASSIGNMENT = {
    "pull": "{strategy: pull, group: clerks}",
    "round_robin": "{strategy: round_robin, group: clerks}",
    "least_loaded": "{strategy: least_loaded, group: clerks, max_open_per_reviewer: 5000}",
    "skill": "{strategy: skill, group: clerks, rules: [{label: contract, group: legal}]}",
}


def _workflow(strategy: str) -> str:
    return f"""
name: claims
labels: [invoice, contract]
ai: {{provider: fake}}
routing: {{threshold: 0.9}}
review:
  outcomes: [approved, rejected]
  assignment: {_ASSIGNMENT[strategy]}
"""


def _seed(ctx: Context, strategy: str, n_tasks: int) -> list[str]:
    """Workflow, reviewers (with API keys), groups and `n_tasks` open tasks; the keys."""
    workflow_service.apply_workflow(ctx, _workflow(strategy), "bench")
    emails = [f"r{i:02d}@example.com" for i in range(REVIEWERS)]
    keys = []
    for email in emails:
        users.add_user(ctx, email, Role.REVIEWER)
        keys.append(users.create_key(ctx, email, email)[1])
    groups.add_members(ctx, "clerks", emails)
    groups.add_members(ctx, "legal", emails[: REVIEWERS // 2])
    with ctx.engine.begin() as connection:
        wf = connection.execute(sa.text("SELECT id FROM workflows WHERE name = 'claims'")).scalar()
        first_user = connection.execute(
            sa.text("SELECT min(id) FROM users WHERE email LIKE 'r__@example.com'")
        ).scalar()
        connection.execute(
            sa.text(
                "INSERT INTO items (workflow_id, workflow_version, content, metadata, state,"
                " created_at, updated_at, ai_label, confidence, route)"
                " SELECT :wf, 1, '{\"text\": \"an invoice\"}', '{}', 'in_review', now(), now(),"
                " CASE WHEN g % 4 = 0 THEN 'contract' ELSE 'invoice' END, 0.5, 'human'"
                " FROM generate_series(1, :n) AS g"
            ),
            {"wf": wf, "n": n_tasks},
        )
        # Half the backlog has a due time (spread over a week), half none.
        due = "CASE WHEN id % 2 = 0 THEN now() + ((id % 10080) || ' minutes')::interval END"
        if strategy == "pull":
            connection.execute(
                sa.text(
                    "INSERT INTO review_tasks (item_id, workflow_id, status, created_at, due_at,"
                    f" group_name) SELECT id, workflow_id, 'open', now(), {due}, 'clerks'"
                    " FROM items"
                )
            )
        else:
            # As the strategy spreads them: in turn (skill: contracts to legal's half).
            spread = (
                "id % :r"
                if strategy != "skill"
                else ("CASE WHEN ai_label = 'contract' THEN id % (:r / 2) ELSE id % :r END")
            )
            connection.execute(
                sa.text(
                    "INSERT INTO review_tasks (item_id, workflow_id, status, created_at, due_at,"
                    " group_name, assignee_id, assigned_at, hold_expires_at)"
                    f" SELECT id, workflow_id, 'assigned', now(), {due},"
                    " CASE WHEN ai_label = 'contract' AND :skill THEN 'legal' ELSE 'clerks' END,"
                    f" :u0 + ({spread}), now(), now() + interval '1 day' FROM items"
                ),
                {"r": REVIEWERS, "u0": first_user, "skill": strategy == "skill"},
            )
        connection.execute(sa.text("ANALYZE items"))
        connection.execute(sa.text("ANALYZE review_tasks"))
    return keys


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(url: str, processes: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    """`signoff serve --no-workers` (from `processes` processes), ready: its URL."""
    port = _free_port()
    env = {
        **os.environ,
        "SIGNOFF_DATABASE_URL": url,
        "SIGNOFF_ENVIRONMENT": "development",
        "SIGNOFF_OUTBOUND__ALLOW": "127.0.0.1",
        "SIGNOFF_LOG_LEVEL": "INFO",
    }
    script = Path(sys.executable).parent / "signoff"
    log = tempfile.TemporaryFile()  # noqa: SIM115 - read while the process runs, closed with it
    process = subprocess.Popen(
        [str(script), "serve", "--no-workers", "--host", "127.0.0.1", "--port", str(port)]
        + (["--processes", str(processes)] if processes > 1 else []),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"

    def started() -> int:
        log.seek(0)
        return log.read().count(b"action=serve_process_started")

    deadline = time.monotonic() + 60
    # Every process up, not only the first: one still starting would take CPU from the run.
    while processes > 1 and started() < processes and time.monotonic() < deadline:
        time.sleep(0.2)
    if wait_until_up(f"{base}/healthz", 60):
        return process, base
    process.kill()
    raise RuntimeError("signoff serve did not start")


def wait_until_up(url: str, seconds: float) -> bool:
    """Poll `url` until it answers 200 (True) or `seconds` pass (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _server_ms(response: httpx.Response) -> float:
    """The server's time on a request, from its `Server-Timing: app;dur=<ms>` header."""
    return float(response.headers["server-timing"].partition(";dur=")[2])


def _in_process(ctx: Context, claims: int = 200) -> list[float]:
    """Claim latency of one reviewer through the service, no HTTP: the query's own cost."""
    with ctx.sessions() as session:
        row = session.execute(
            sa.text("SELECT id, email FROM users WHERE email = 'r00@example.com'")
        ).one()
    principal = users.Principal(user_id=row.id, email=row.email, role=Role.REVIEWER)
    timings = []
    for _ in range(claims):
        t0 = time.perf_counter()
        task = review.claim_next_task(ctx, principal)
        timings.append((time.perf_counter() - t0) * 1000)
        assert task is not None
        review.decide(ctx, principal, task.id, review.DecisionInput(outcome="approved"))
    return timings


def measure(
    ctx: Context,
    strategy: str,
    n_tasks: int = 100_000,
    think_seconds: float = 0.0,
    processes: int = 1,
) -> dict[str, Any]:
    """Claim and decision p50/p99 (ms) of REVIEWERS reviewers looping claim → decide over
    HTTP; `think_seconds`: each reviewer's pause after a decision (0: back to back, the
    server saturated; people reading an item pause for seconds). `processes`: that many
    processes serving one port (`signoff serve --processes`)."""
    started = time.perf_counter()
    keys = _seed(ctx, strategy, n_tasks)
    seed_seconds = time.perf_counter() - started
    alone = _in_process(ctx)
    server, base = _serve(ctx.settings.database_url, processes)
    latencies: list[float] = []
    decision_latencies: list[float] = []
    # The server's own share of each round trip (its `Server-Timing` header).
    server_claims: list[float] = []
    server_decisions: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(REVIEWERS)

    def reviewer(key: str, base: str) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            barrier.wait()
            if think_seconds:
                # People start at different moments: spread the first claims over a pause.
                time.sleep(think_seconds * random.random())
            for _ in range(CLAIMS_EACH):
                t0 = time.perf_counter()
                claimed = client.post("/api/v1/reviews/claim")
                elapsed = (time.perf_counter() - t0) * 1000
                if claimed.status_code != 200:
                    with lock:
                        failures.append(f"claim {claimed.status_code}")
                    continue
                with lock:
                    latencies.append(elapsed)
                    server_claims.append(_server_ms(claimed))
                task_id = claimed.json()["id"]
                t0 = time.perf_counter()
                decided = client.post(
                    f"/api/v1/tasks/{task_id}/decision", json={"outcome": "approved"}
                )
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    if decided.status_code != 200:
                        failures.append(f"decision {decided.status_code}")
                    else:
                        decision_latencies.append(elapsed)
                        server_decisions.append(_server_ms(decided))
                if think_seconds:
                    # Spread the pauses so the reviewers do not move in lockstep.
                    time.sleep(think_seconds * random.uniform(0.5, 1.5))

    load_before = os.getloadavg()
    try:
        threads = [threading.Thread(target=reviewer, args=(k, base)) for k in keys]
        run_started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        run_seconds = time.perf_counter() - run_started
    finally:
        server.terminate()
        server.wait(30)
    load_after = os.getloadavg()
    if not latencies:
        raise RuntimeError(f"no claim succeeded: {failures[:5]}")
    return {
        "strategy": strategy,
        "tasks": n_tasks,
        "reviewers": REVIEWERS,
        "claims": len(latencies),
        "failures": len(failures),
        "think_seconds": think_seconds,
        "processes": processes,
        "p50_ms": _percentile(latencies, 50),
        "p99_ms": _percentile(latencies, 99),
        "decision_p50_ms": _percentile(decision_latencies, 50) if decision_latencies else None,
        "decision_p99_ms": _percentile(decision_latencies, 99) if decision_latencies else None,
        "server_p99_ms": _percentile(server_claims, 99),
        "server_decision_p99_ms": _percentile(server_decisions, 99) if server_decisions else None,
        "alone_p50_ms": _percentile(alone, 50),
        "alone_p99_ms": _percentile(alone, 99),
        "seed_seconds": seed_seconds,
        "run_seconds": run_seconds,
        "load": (load_before[0], load_after[0]),
    }


def run(n_tasks: int = 100_000) -> list[dict[str, Any]]:
    """Every run of RUNS, each on a fresh database."""
    from bench.run import Database

    results = []
    for strategy, pause, processes in RUNS:
        with Database("postgresql") as ctx:
            results.append(measure(ctx, strategy, n_tasks, pause, processes))
        print(f"claims {strategy} (pause {pause}s, {processes} serve): {results[-1]}", flush=True)
    return results


def render(results: list[dict[str, Any]]) -> list[str]:
    """The "Claims" section of docs/benchmarks.md."""
    lines = [
        "## Claims",
        "",
        f"{REVIEWERS} reviewers, each a thread with its own HTTP connection, loop",
        f"`POST /api/v1/reviews/claim` → `POST /api/v1/tasks/{{id}}/decision` {CLAIMS_EACH} times",
        "against a live `signoff serve --no-workers` on PostgreSQL (serve processes 2:",
        "`--processes 2`, two processes on one port); the backlog",
        "is seeded by SQL (`bench/claims.py`, `python -m bench.claims`). Latency is the round",
        "trip as the client sees it, with the other reviewers' requests running at the same",
        "time. A pause of 0 sends the next claim the moment a decision returns: 50 clients",
        "then keep the server saturated and the latency is mostly the queue in front of it.",
        "With a pause, each reviewer waits 0.5–1.5× that long after a decision (as a person",
        "reading the next item would) and starts at a random moment within the first pause;",
        "the latency is then the request's own cost at that load. The clients run on the",
        "same 2 cores as the servers and the database.",
        f"Measured on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores"
        " (load averages in the table).",
        "",
        "| strategy | open tasks | serve processes | pause s | claims | claim p50 / p99 ms"
        " | decision p50 / p99 ms | in the server p99 ms, claim / decision"
        " | one reviewer in-process claim p50 / p99 ms | failures | load avg (before → after) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        decision = (
            f"{r['decision_p50_ms']:.1f} / {r['decision_p99_ms']:.1f}"
            if r.get("decision_p99_ms") is not None
            else "-"
        )
        server = (
            f"{r['server_p99_ms']:.1f} / {r['server_decision_p99_ms']:.1f}"
            if r.get("server_decision_p99_ms") is not None
            else "-"
        )
        lines.append(
            f"| {r['strategy']} | {r['tasks']:,} | {r.get('processes', 1)} |"
            f" {r.get('think_seconds', 0):g} | {r['claims']} |"
            f" {r['p50_ms']:.1f} / {r['p99_ms']:.1f} | {decision} | {server} |"
            f" {r['alone_p50_ms']:.1f} / {r['alone_p99_ms']:.1f} | {r.get('failures', 0)} |"
            f" {r['load'][0]:.1f} → {r['load'][1]:.1f} |"
        )
    lines += ANALYSIS
    return lines


#: What the figures mean; rewritten with each change to the claim or decision path.
ANALYSIS = [
    "",
    "Target: claim and decision p99 ≤ 20 ms with 50 reviewers: **not met** on this",
    "machine. At a 5 s pace round-robin claims meet it (p99 18 ms, one process); pull",
    "claims are at 42 ms with one process and 29 ms with two (`serve --processes 2`),",
    "decisions at 24–43 ms. The server's own time (its `Server-Timing` header) is within",
    "a few ms of the client's round trip at every paced run: the tail is in the server,",
    "not in the clients sharing its cores. At a 1 s pace or faster one process is short",
    "of CPU and the p99 is its queue; a second process cuts the pull p99 at 1 s from 228",
    "to 151 ms. `pull` claims read the claim index in due order (`ix_review_tasks_claim`,",
    "`FOR UPDATE SKIP LOCKED`, one row per probe); the other strategies assign at task",
    "creation, so a claim reads the reviewer's assigned task.",
    "",
    "What changed on 2026-12-04, measured A/B (the previous commit and this one in turn,",
    "on the same machine, minutes apart; pull, 5 s pace, one process): claim p50 / p99",
    "16.9 / 42.8 → 14.8 / 38.9 ms, decision 13.0 / 42.6 → 11.3 / 39.7 ms; in process,",
    "without HTTP, one reviewer: key lookup 1.35 → 0.80 ms, claim 8.1 → 6.7 ms, decision",
    "7.7 → 6.4 ms. Three causes: a pooled connection is pinged only after a second idle",
    "(SQLAlchemy's pre-ping cost a round trip on every checkout, two per request); the",
    "API key is read in autocommit (no BEGIN and ROLLBACK around one SELECT); and the",
    "objects built at start-up are frozen out of the garbage collector. A full collection",
    "walked some 175,000 of them (modules, the app, the engine) and took 34–113 ms each",
    "(timed with `gc.callbacks` in the serve process during the 1 s pull run), a pause",
    "for every request in flight; now 7–10 ms.",
    "",
    "Where the rest goes: on this machine a database round trip after the connection sat",
    "idle for 0.1 s takes 533 µs against 117 µs back to back (`SELECT 1` with psycopg,",
    "p50), and at a person's pace each of a request's dozen round trips pays it: one",
    "reviewer alone pausing 0.1 s between pairs sees claims take 15 ms instead of 11.",
    "Of a request's time in the server about 45 % is SQLAlchemy building statements and",
    "reading rows, 30 % waiting on PostgreSQL, under 10 % the HTTP stack. Every decision",
    "adds to its workflow's counters for the day, split into 8 rows by item id",
    "(migration `0013_sharded_counters`) so concurrent decisions do not queue on one row.",
    "",
    "Next: fewer statements per decision (the rollups counted from the row read locked",
    "instead of read back, the answer's item from the update's `RETURNING`: 11 → 9); a",
    "pull claim in fewer probes; more processes on more cores (each holds up to 30",
    "connections).",
    "",
]


def main() -> None:
    n_tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    section = render(run(n_tasks))
    print("\n".join(section))
    sections.write_section(ROOT / "docs" / "benchmarks.md", section)


if __name__ == "__main__":
    main()
