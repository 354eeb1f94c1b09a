"""The auto path measured from outside, as a deployment runs it.

Real processes: one `signoff serve` (its own worker threads) on SQLite, or
`signoff serve --no-workers` plus two `signoff worker` processes on PostgreSQL.
A client posts batches of 1,000 items to
`POST /api/v1/workflows/{name}/items/batch` with a trivial
`python` provider, so the figure is the engine's own cost: intake, claim, AI step,
routing, the decision with its audit events and webhook outbox row. The clock runs
from the first request to the moment the database holds the last decision.

`python -m bench.http_auto [N]` (default 20000) writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench import sections
from bench.claims import _free_port, wait_until_up
from bench.run import Database
from signoff.domain.states import Role
from signoff.services import users
from signoff.services import workflows as workflow_service

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1000
WORKERS = 2
# No webhook: the outbox row is written with each decision, sending is another bench.
WORKFLOW = """
name: bench
labels: [invoice, other]
ai: {provider: python, options: {function: "bench.trivial:classify"}}
routing: {threshold: 0.5}
"""


def _env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "SIGNOFF_DATABASE_URL": url,
        "SIGNOFF_ENVIRONMENT": "development",
        "SIGNOFF_LIMITS__REQUESTS_PER_MINUTE": "0",
        # The trivial provider is `bench.trivial`, importable from the checkout.
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }


def _start(
    url: str, separate_workers: bool, serving: int = 1
) -> tuple[list[subprocess.Popen[bytes]], str]:
    script = str(Path(sys.executable).parent / "signoff")
    port = _free_port()
    serve = [script, "serve", "--host", "127.0.0.1", "--port", str(port)]
    if separate_workers:
        serve.append("--no-workers")
    if serving > 1:
        serve += ["--processes", str(serving)]
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [subprocess.Popen(serve, env=_env(url), **quiet)]
    if separate_workers:
        processes += [
            subprocess.Popen([script, "worker"], env=_env(url), **quiet) for _ in range(WORKERS)
        ]
    base = f"http://127.0.0.1:{port}"
    if wait_until_up(f"{base}/readyz", 120):
        return processes, base
    _stop(processes)
    raise RuntimeError("signoff serve did not become ready")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def measure(kind: str, n: int, separate_workers: bool, processes: int = 1) -> dict[str, Any]:
    """Items/s from the first intake request to the last decision in the database;
    `processes`: `serve --processes`, each process with its own worker threads."""
    with Database(kind) as ctx:
        workflow_service.apply_workflow(ctx, WORKFLOW, "bench")
        users.add_user(ctx, "bench@example.com", Role.ADMIN, actor="bench")
        token = users.create_key(ctx, "bench", "bench@example.com")[1]
        return _drive(ctx.settings.database_url, token, n, separate_workers, processes)


def _drive(
    url: str, token: str, n: int, separate_workers: bool, serving: int = 1
) -> dict[str, Any]:
    engine = sa.create_engine(url)
    processes, base = _start(url, separate_workers, serving)
    load_before = os.getloadavg()[0]
    try:
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120
        ) as client:
            started = time.perf_counter()
            for start in range(0, n, BATCH):
                body = {
                    "items": [
                        {"content": {"text": f"document {i}"}}
                        for i in range(start, min(n, start + BATCH))
                    ],
                }
                response = client.post("/api/v1/workflows/bench/items/batch", json=body)
                response.raise_for_status()
            submitted = time.perf_counter() - started
            decided = 0
            while decided < n:
                with engine.connect() as connection:
                    decided = connection.execute(
                        sa.text("SELECT count(*) FROM items WHERE decided_at IS NOT NULL")
                    ).scalar_one()
                if decided < n:
                    time.sleep(0.05)
            elapsed = time.perf_counter() - started
    finally:
        _stop(processes)
        engine.dispose()
    return {
        "items": n,
        "seconds": elapsed,
        "submit_seconds": submitted,
        "items_per_second": n / elapsed,
        "load": (load_before, os.getloadavg()[0]),
    }


def run(n: int) -> list[dict[str, Any]]:
    layout = f"`serve --no-workers` + {WORKERS} `worker`"
    return [
        {"database": "SQLite", "layout": "one `serve`", **measure("sqlite", n, False)},
        {"database": "SQLite", "layout": layout, **measure("sqlite", n, True)},
        {"database": "PostgreSQL", "layout": layout, **measure("postgresql", n, True)},
        {
            "database": "PostgreSQL",
            "layout": "`serve --processes 2` (workers in each)",
            **measure("postgresql", n, False, 2),
        },
    ]


def render(results: list[dict[str, Any]], at: datetime) -> list[str]:
    lines = [
        "## Auto path over HTTP",
        "",
        f"Measured by `python -m bench.http_auto {results[0]['items']}` on {at:%Y-%m-%d %H:%M} UTC; "
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()}.",
        "Real processes, as a deployment runs them: a client posts batches of 1,000 items",
        "to `POST /api/v1/workflows/{name}/items/batch`; a trivial `python` provider answers",
        "at once, so the figure is the engine's own cost (intake with its `received` events,",
        "claim, AI step, routing, the decision with its audit events, outbox row and",
        "rollups). The clock runs from the first request to the last decision committed.",
        "",
        "| database | processes | items | items/s | of which intake, s | load avg (before → after) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['database']} | {r['layout']} | {r['items']:,} | {r['items_per_second']:,.0f} "
            f"| {r['submit_seconds']:.1f} | {r['load'][0]:.1f} → {r['load'][1]:.1f} |"
        )
    return [
        *lines,
        "",
        "Target: ≥ 5,000 items/s on SQLite with one `serve`: **not met**. ≥ 3,000 on",
        "PostgreSQL with `serve` and two workers: reached on a quiet machine (load under",
        "1.5) and not on a loaded one: on 2026-12-04 the previous commit and this one, run in",
        "turn minutes apart, gave 2,924 and 3,190 items/s (SQLite one `serve`: 3,367 and",
        "3,586), while the same engine measured 1,600–1,750 items/s on earlier days at",
        "higher load. Every layout here is bound by Python's CPU",
        "time per item. Measured in process on SQLite, intake costs about 0.1 ms an item",
        "(10,600 items/s for a request of 1,000 with no worker running) and the AI step",
        "about 0.3 ms: the claim and the decision are each a guarded UPDATE with its audit",
        "event (an HMAC over canonical JSON), and the decision adds the outbox row and the",
        "rollups. In one `serve` the HTTP thread and the worker threads share one",
        "interpreter; separate worker processes on SQLite gain little (0–20 % across runs): every write",
        "waits for SQLite's single write lock, and on two cores PostgreSQL, `serve` and the",
        "workers share the same two CPUs. Halving the cost per item means writing less per",
        "item (the lease taken without a state change and audit event of its own, the rollups",
        "counted from the values just written instead of read back), not tuning queries.",
        "",
    ]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    results = run(n)
    section = render(results, datetime.now(UTC))
    print("\n".join(section))
    sections.write_section(ROOT / "docs" / "benchmarks.md", section)


if __name__ == "__main__":
    main()
