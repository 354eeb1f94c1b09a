"""`signoff audit verify` at 100k events: full, against a checkpoint, and incremental.

`python -m bench.audit [EVENTS]` builds a trail through the engine's auto path (each
item: received, claimed, auto_decided), signs a checkpoint, adds a tenth more events,
and times verification on SQLite and PostgreSQL: in-process, and as the real command
in a subprocess. It rewrites the "Audit verification" section of docs/benchmarks.md.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import engine, sections
from bench.run import Database
from signoff.domain import checkpoints
from signoff.services import audit as audit_service

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Audit verification"
EVENTS_PER_ITEM = 3  # received, claimed, auto_decided


def _cli_verify(url: str, key_file: Path, *args: str) -> float:
    env = {
        **os.environ,
        "SIGNOFF_DATABASE_URL": url,
        "SIGNOFF_AUDIT__SIGNING_KEY_FILE": str(key_file),
    }
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from signoff.cli import main; main()", "audit", "verify", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def measure(kind: str, events: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="signoff-bench-keys-") as keys, Database(kind) as ctx:
        key_file = Path(keys) / "signer.pem"
        audit_service.write_key_pair(key_file)
        ctx.settings.audit.signing_key_file = str(key_file)
        engine.auto_path(ctx, events // EVENTS_PER_ITEM)
        full = audit_service.verify(ctx)
        assert not full.problems, full.problems[:3]
        started = time.perf_counter()
        data, _ = audit_service.create_checkpoint(ctx)
        checkpoint_seconds = time.perf_counter() - started
        checkpoint_file = Path(keys) / "checkpoint.json"
        checkpoint_file.write_bytes(data)
        anchor = checkpoints.load(data, audit_service.public_key(ctx, None))
        engine.auto_path(ctx, events // EVENTS_PER_ITEM // 10)
        against = audit_service.verify(ctx, checkpoint=anchor)
        incremental = audit_service.verify(ctx, checkpoint=anchor, incremental=True)
        assert not against.problems and not incremental.problems
        url = ctx.settings.database_url
        cli_full = _cli_verify(url, key_file)
        cli_incremental = _cli_verify(
            url, key_file, "--checkpoint", str(checkpoint_file), "--incremental"
        )
    return {
        "events": full.checked,
        "full_seconds": full.seconds,
        "full_rate": full.events_per_second,
        "checkpoint_seconds": checkpoint_seconds,
        "checkpoint_bytes": len(data),
        "after_events": against.checked,
        "against_seconds": against.seconds,
        "incremental_seconds": incremental.seconds,
        "incremental_rehashed": incremental.rehashed,
        "cli_full_seconds": cli_full,
        "cli_incremental_seconds": cli_incremental,
    }


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def render(results: dict[str, dict[str, Any]]) -> list[str]:
    sq, pg = results["sqlite"], results["postgresql"]
    load = os.getloadavg()[0]

    def both(fmt: str, key: str) -> tuple[str, str]:
        return fmt.format(sq[key]), fmt.format(pg[key])

    return [
        HEADING,
        "",
        f"Measured by `python -m bench.audit {sq['events']}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()}, 1-minute load average {load:.1f} (the machine is shared).",
        "The trail is built through the engine's auto path (three events per item, one chain",
        "per item, every event an HMAC); then a checkpoint is signed, a tenth more events are",
        "added, and the trail is verified against it.",
        "",
        "Incremental verification reads each checkpointed chain from its head on (a",
        "temporary table of the heads joined in SQL) and re-hashes only the new events;",
        "on PostgreSQL filling that table with one row per chain costs much of what it saves.",
        "",
        _row("measure", "SQLite", "PostgreSQL", "target"),
        _row("---", "---", "---", "---"),
        _row("events in the trail", *both("{:,}", "events"), ""),
        _row("full verify, in-process, s", *both("{:.2f}", "full_seconds"), ""),
        _row("full verify, events/s", *both("{:,.0f}", "full_rate"), ""),
        _row(
            "`signoff audit verify` of the 110k events (the command, process start included), s",
            *both("{:.2f}", "cli_full_seconds"),
            "≤ 10 s for a day's events",
        ),
        _row(
            "checkpoint (verify + sign), in-process, s",
            *both("{:.2f}", "checkpoint_seconds"),
            "",
        ),
        _row("checkpoint file, bytes", *both("{:,}", "checkpoint_bytes"), ""),
        _row("events after adding a tenth", *both("{:,}", "after_events"), ""),
        _row("verify against the checkpoint, full, s", *both("{:.2f}", "against_seconds"), ""),
        _row(
            "verify `--incremental` from the checkpoint, s",
            *both("{:.2f}", "incremental_seconds"),
            "",
        ),
        _row("of which events re-hashed", *both("{:,}", "incremental_rehashed"), ""),
        _row(
            "`signoff audit verify --checkpoint FILE --incremental` (the command), s",
            *both("{:.2f}", "cli_incremental_seconds"),
            "",
        ),
        "",
    ]


write_section = sections.write_section


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    results = {}
    for kind in ("sqlite", "postgresql"):
        results[kind] = measure(kind, events)
        print(kind, results[kind], flush=True)
    write_section(ROOT / "docs" / "benchmarks.md", render(results))
    print("written docs/benchmarks.md")


if __name__ == "__main__":
    main()
