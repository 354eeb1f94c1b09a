"""`make bench`: run the throughput benchmarks and update their sections of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import claims, engine, learning, retrain, sections
from bench import timers as timer_bench
from signoff.services.context import create_context
from signoff.settings import Settings
from signoff.storage import migrate

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get(
    "SIGNOFF_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


class Database:
    """A fresh, migrated database for one benchmark, dropped afterwards."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.tmp = tempfile.TemporaryDirectory(prefix="signoff-bench-")
        self.pg_name: str | None = None

    def __enter__(self) -> Any:
        if self.kind == "sqlite":
            url = f"sqlite:///{self.tmp.name}/bench.db"
        else:
            self.pg_name = f"signoff_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(_dsn(PG_URL), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_name}"')
            url = PG_URL.rsplit("/", 1)[0] + f"/{self.pg_name}"
        migrate.upgrade(url)
        # The bench workflow's webhook points at 127.0.0.1 (nothing listens; never sent).
        self.ctx = create_context(Settings(database_url=url, outbound={"allow": "127.0.0.1"}))
        return self.ctx

    def __exit__(self, *exc: object) -> None:
        self.ctx.close()
        if self.pg_name:
            with psycopg.connect(_dsn(PG_URL), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        self.tmp.cleanup()


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def main() -> None:
    results: dict[str, Any] = {}
    for kind in ("sqlite", "postgresql"):
        with Database(kind) as ctx:
            results[f"auto_{kind}"] = engine.auto_path(ctx, 20_000)
            print(
                f"auto path {kind}: {results[f'auto_{kind}']['items_per_second']:.0f} items/s",
                flush=True,
            )
        with Database(kind) as ctx:
            results[f"human_{kind}"] = engine.human_path(ctx, 1000)
            print(
                f"human path {kind}: {results[f'human_{kind}']['decisions_per_second']:.0f} decisions/s",
                flush=True,
            )
    if learning.DATASET.exists():
        rows = learning.load()
        results["training"] = learning.training_time(rows)
        print(f"training 5k: {results['training']['seconds']:.1f}s", flush=True)
        for scoring in (False, True):
            with Database("sqlite") as ctx:
                url = ctx.settings.database_url
                key = "prediction_process" if scoring else "prediction"
                results[key] = learning.prediction_throughput(url, rows, scoring)
            print(f"{key}: {results[key]}", flush=True)
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from signoff.cli import main; main()",
                "eval",
                str(learning.DATASET),
                "--workflow",
                str(ROOT / "examples" / "spam-filter.yaml"),
                "--output",
                str(ROOT / "docs" / "eval-spamassassin.json"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        results["eval_seconds"] = time.perf_counter() - started
        print(f"eval: {results['eval_seconds']:.1f}s", flush=True)
    results["claims"] = claims.run()
    from bench import http_auto  # it builds on Database, defined here

    http_section = http_auto.render(http_auto.run(20_000), datetime.now(UTC))
    print("\n".join(http_section), flush=True)
    results["retrain"] = retrain.measure()
    results["timers"] = timer_bench.run()
    print(f"timer sweeps: {results['timers']}", flush=True)
    page = ROOT / "docs" / "benchmarks.md"
    existing = page.read_text() if page.exists() else ""
    # Only this run's sections: other benches (bench.scale, bench.audit, ...) keep theirs.
    update = render(results) + "\n" + "\n".join(http_section)
    page.write_text(sections.replace_sections(existing, update))
    print("updated docs/benchmarks.md")


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def render(r: dict[str, Any]) -> str:
    cpu = platform.processor() or platform.machine()
    sq, pg = r["auto_sqlite"], r["auto_postgresql"]
    hsq, hpg = r["human_sqlite"], r["human_postgresql"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`python -m bench.run`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC;",
        f"machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}.",
        "Each figure runs in one process against a fresh, migrated database.",
        "",
        "## Engine",
        "",
        "Auto path: submit in batches of 1,000 → claim (lease) → AI step with a trivial",
        "`python` provider → route → decision + audit events + webhook outbox row, committed.",
        "Human path: one reviewer claims and decides tasks one at a time through the services.",
        "",
        _row("measure", "SQLite", "PostgreSQL", "target"),
        _row("---", "---", "---", "---"),
        _row(
            "auto path, items/s",
            f"{sq['items_per_second']:,.0f}",
            f"{pg['items_per_second']:,.0f}",
            "≥ 2,000 / ≥ 1,000",
        ),
        _row(
            "of which submit, s per 20k",
            f"{sq['submit_seconds']:.1f}",
            f"{pg['submit_seconds']:.1f}",
            "",
        ),
        _row(
            "of which AI step + decision, s per 20k",
            f"{sq['process_seconds']:.1f}",
            f"{pg['process_seconds']:.1f}",
            "",
        ),
        _row(
            "human path, decisions/s",
            f"{hsq['decisions_per_second']:,.0f}",
            f"{hpg['decisions_per_second']:,.0f}",
            "",
        ),
        "",
    ]
    if "training" in r:
        t, p, q = r["training"], r["prediction"], r["prediction_process"]
        lines += [
            "## Built-in model (SpamAssassin, 5,919 emails)",
            "",
            _row("measure", "value"),
            _row("---", "---"),
            _row(
                "training on 5,000 documents (incl. held-out evaluation)",
                f"{t['seconds']:.1f} s ({t['method']}, accuracy {t['accuracy']:.3f}, ECE {t['ece']:.3f})",
            ),
            _row("prediction, model alone", f"{p['model_docs_per_second']:,.0f} docs/s"),
            _row(
                "through the engine: submit → AI → route → decide, 2 worker threads",
                f"{p['engine_docs_per_second']:,.0f} docs/s, overhead {p['engine_overhead']:.0%}",
            ),
            _row(
                "the same with `SIGNOFF_WORKER__MODEL_PROCESS=true` (scoring in its own process)",
                f"{q['engine_docs_per_second']:,.0f} docs/s, overhead {q['engine_overhead']:.0%}",
            ),
            _row("target for the engine's overhead on top of the model", "< 20 %"),
            _row(
                "`signoff eval` of the whole set (`examples/spam-filter.yaml`)",
                f"{r['eval_seconds']:.1f} s (target < 120 s)",
            ),
            "",
            "The eval's figures are in `docs/eval-spamassassin.json`.",
            "",
            "Where the time goes through the engine (cProfile): about half is the model itself",
            "(scikit-learn's tokenisation in `CountVectorizer`, pure Python), the other half the",
            "engine's SQL (per item: insert with its received event, claim, decision,",
            "each with its audit row) and JSON encoding of content, predictions and audit data.",
            "Both halves hold the GIL, so two worker threads in one process barely overlap them.",
            "Scoring in a separate process lets them overlap, but on two cores the submitting",
            "thread, two workers and the scorer compete: across runs it gained from -15 % to",
            "+37 %, so it stays off by default. The 20 % target is not met: the engine's own",
            "work per item is still about as long as the model's. Next step: measure with",
            "submission from a separate API process, as a deployment would run it.",
            "",
        ]
    if "claims" in r:
        lines += claims.render(r["claims"])
    if "retrain" in r:
        lines += retrain.render(r["retrain"])
    if "timers" in r:
        lines += ["", *timer_bench.render(r["timers"])]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
