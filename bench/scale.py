"""Read-path cost vs item count on PostgreSQL, measured over HTTP against `signoff serve`.

Seeding: items are written by one INSERT … SELECT generate_series per size (decided
items spread over 90 days: auto/human, QA samples, overrides, confidences), straight
into the tables of a database at head — no audit events are seeded, so this bench
measures read paths only. Then the rollup migrations are undone and done again
(`downgrade 0008_rollups-1`, `upgrade head`): their backfills build the dashboard
rollups from the seeded items as they would on a deployment upgrading. Each path is
timed over HTTP (median and worst of several requests, after one warm-up).

`python -m bench.scale [N ...]` (default 10000 100000 1000000) prints a markdown table.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
import uuid
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa
from alembic import command

from bench.claims import _serve
from bench.run import PG_URL, _dsn
from signoff.domain.states import Role
from signoff.services import users
from signoff.services import workflows as workflow_service
from signoff.services.context import create_context
from signoff.settings import Settings
from signoff.storage import migrate

WORKFLOW = """
name: scale
labels: [invoice, contract, receipt, other]
ai: {provider: fake}
routing: {threshold: 0.8}
"""
RUNS = 7

_SEED = """
INSERT INTO items (workflow_id, workflow_version, content, metadata, state, created_at,
    updated_at, ai_label, confidence, route, qa_sample, routed_at, outcome, final_label,
    decided_by, decided_at, override)
SELECT :wf, 1, '{"text": "an invoice"}', '{}', 'approved', ts, ts + interval '2 minutes',
    'invoice', c, CASE WHEN c >= 0.8 AND g % 10 <> 0 THEN 'auto' ELSE 'human' END,
    c >= 0.8 AND g % 10 = 0, ts + interval '1 second', 'approved', 'invoice', 'ai',
    ts + (CASE WHEN c >= 0.8 THEN 2 ELSE 600 + g % 3000 END) * interval '1 second',
    CASE WHEN c < 0.8 OR g % 10 = 0 THEN g % 7 = 0 END
FROM (SELECT g, now() - (g % 129600) * interval '1 minute' AS ts,
             (g % 1000) / 1000.0 AS c
      FROM generate_series(1, :n) AS g) AS s
"""


def _time(client: httpx.Client, path: str, headers: dict[str, str]) -> dict[str, float]:
    client.get(path, headers=headers).raise_for_status()
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        client.get(path, headers=headers).raise_for_status()
        samples.append((time.perf_counter() - start) * 1000)
    return {"median_ms": statistics.median(samples), "max_ms": max(samples)}


def measure(n: int) -> dict[str, Any]:
    name = f"signoff_scale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_dsn(PG_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate.upgrade(url)
        ctx = create_context(Settings(database_url=url))
        workflow_service.apply_workflow(ctx, WORKFLOW, "bench")
        users.add_user(ctx, "auditor@example.com", Role.AUDITOR, password="auditor-password-1")
        key = users.create_key(ctx, "bench", "auditor@example.com")[1]
        start = time.perf_counter()
        with ctx.engine.begin() as connection:
            wf = connection.execute(sa.text("SELECT id FROM workflows")).scalar_one()
            connection.execute(sa.text(_SEED), {"wf": wf, "n": n})
        seeded = time.perf_counter() - start
        ctx.close()
        start = time.perf_counter()
        # The rollup migrations' backfills build the rollups from the seeded items.
        command.downgrade(migrate.alembic_config(url), "0008_rollups-1")
        migrate.upgrade(url)
        backfill = time.perf_counter() - start
        with psycopg.connect(_dsn(url), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            first, last = conn.execute("SELECT min(id), max(id) FROM items").fetchone() or (0, 0)
        process, base = _serve(url)
        try:
            result: dict[str, Any] = {"items": n, "seed_s": seeded, "backfill_s": backfill}
            auth = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base, timeout=60) as client:
                for label, path in (
                    ("summary_all", "/api/v1/metrics/summary?since=all"),
                    ("summary_7d", "/api/v1/metrics/summary?since=7d"),
                    ("items_first_page", "/api/v1/items?limit=50"),
                    ("items_deep_page", f"/api/v1/items?limit=50&cursor={first + n // 2}"),
                    ("item_by_id", f"/api/v1/items/{last - n // 3}"),
                ):
                    result[label] = _time(client, path, auth)
                page = client.get("/ui/login").text
                token = re.search(r'name="csrf_token" value="([^"]+)"', page)
                assert token, "no CSRF token on the login page"
                form = {
                    "email": "auditor@example.com",
                    "password": "auditor-password-1",
                    "csrf_token": token.group(1),
                }
                client.post("/ui/login", data=form, follow_redirects=True).raise_for_status()
                for label, path in (
                    ("dashboard_all", "/ui/dashboard?range=all"),
                    ("dashboard_7d", "/ui/dashboard?range=7d"),
                ):
                    result[label] = _time(client, path, {})
            result["load"] = os.getloadavg()
            return result
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        with psycopg.connect(_dsn(PG_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


PATHS = (
    "summary_all",
    "summary_7d",
    "dashboard_all",
    "dashboard_7d",
    "items_first_page",
    "items_deep_page",
    "item_by_id",
)


def render(results: list[dict[str, Any]]) -> list[str]:
    head = "| read path | " + " | ".join(f"{r['items']:,} items" for r in results) + " |"
    lines = [head, "| --- |" + " --- |" * len(results)]
    for path in PATHS:
        cells = [f"{r[path]['median_ms']:.0f} ms (max {r[path]['max_ms']:.0f})" for r in results]
        lines.append(f"| {path.replace('_', ' ')} | " + " | ".join(cells) + " |")
    lines.append(
        "| seed (SQL) / rollup backfill | "
        + " | ".join(f"{r['seed_s']:.1f} s / {r['backfill_s']:.1f} s" for r in results)
        + " |"
    )
    lines.append(
        "| load average (1/5/15 min) | "
        + " | ".join("/".join(f"{x:.1f}" for x in r["load"]) for r in results)
        + " |"
    )
    return lines


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000, 1_000_000]
    results = []
    for n in sizes:
        results.append(measure(n))
        print(results[-1], flush=True)
    print("\n".join(render(results)))


if __name__ == "__main__":
    main()
