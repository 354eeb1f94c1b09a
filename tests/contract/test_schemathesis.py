"""Schemathesis against a live server: every operation, every check, zero failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from signoff.app import create_app
from signoff.services import processing
from signoff.services.context import create_context
from tests.conftest import FAKE_WORKFLOW, Keys, make_settings
from tests.live_server import serve

#: Bounds of the run: examples per operation and the whole run's time budget.
MAX_EXAMPLES = int(os.environ.get("SIGNOFF_SCHEMATHESIS_EXAMPLES", "10"))
MAX_SECONDS = int(os.environ.get("SIGNOFF_SCHEMATHESIS_SECONDS", "90"))
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture
def seeded_server(db_url: str) -> Iterator[tuple[str, str]]:
    """A live server with a workflow, items in several states and review tasks."""
    # Long-polls end within a second so that generated /wait requests stay quick.
    ctx = create_context(make_settings(db_url, limits={"max_wait_seconds": 1}))
    keys = Keys(ctx)
    app = create_app(ctx=ctx)
    with TestClient(app) as client:
        admin = keys.auth(keys.admin)
        assert client.put("/api/v1/workflows/docs", content=FAKE_WORKFLOW, headers=admin).is_success
        for confidence in (0.95, 0.5, 0.4, 0.3):
            body = {"content": {"label": "invoice", "confidence": confidence}}
            submitted = client.post("/api/v1/workflows/docs/items", json=body, headers=admin)
            assert submitted.status_code == 201, submitted.text
        processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 500)
    with serve(app) as base:
        yield base, keys.admin
    ctx.close()


def test_schemathesis_finds_no_failure_in_any_operation(
    seeded_server: tuple[str, str], tmp_path: Path
) -> None:
    base, admin_key = seeded_server
    report = tmp_path / "report.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{base}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(MAX_SECONDS),
        "--seed",
        "1",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--header",
        f"Authorization: Bearer {admin_key}",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    started = time.monotonic()
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=MAX_SECONDS * 3
    )
    elapsed = time.monotonic() - started
    print(run.stdout[-6000:])
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-4000:]
    summary = json.loads(report.read_text())
    print(f"schemathesis: {summary['test_cases']['generated']} cases in {elapsed:.0f}s")
    # Every operation but the one schemathesis.toml leaves out (the stop switch's pause).
    assert summary["operations"]["tested"] == summary["operations"]["selected"] >= 16
    assert summary["operations"]["total"] - summary["operations"]["selected"] == 1
    assert all(p["status"] == "success" for k, p in summary["phases"].items() if k != "examples")
    assert summary["failures"] == [] and summary["errors"] == []
    assert summary["test_cases"]["generated"] > 100
