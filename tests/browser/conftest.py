"""Browser fixtures: the real app under uvicorn on 127.0.0.1 with workers, and Debian's Chromium."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from signoff.app import create_app
from signoff.services.context import Context, create_context
from signoff.workers.runner import WorkerPool
from tests.browser.support import SCREENSHOTS, LiveServer
from tests.conftest import IN_CI, Keys, make_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

WORKFLOW = """
name: docs
description: Incoming documents, classified and checked before filing.
labels: [invoice, contract, receipt, other]
entities:
  - {type: org}
  - {type: amount}
  - {type: date}
ai: {provider: fake, retries: 0}
routing: {threshold: 0.85, qa_sample_rate: 0.2, always_review_labels: [contract]}
review: {outcomes: [approved, rejected], sla_hours: 24}
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if Path(CHROMIUM).exists():
        return
    if IN_CI:
        return  # the browser fixture fails loudly: CI must run these
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def screenshots(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where this test's screenshots go: docs/screenshots with --update-screenshots, else tmp."""
    if request.config.getoption("--update-screenshots"):
        return SCREENSHOTS
    return tmp_path / "screenshots"


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def prepare(ctx: Context) -> Keys:
    """Users of every role and the `docs` workflow (fake provider, entity types, an SLA)."""
    from signoff.services import workflows

    keys = Keys(ctx)
    workflows.apply_workflow(ctx, WORKFLOW, "test")
    return keys


@pytest.fixture
def live_server(sqlite_url: str) -> Iterator[LiveServer]:
    settings = make_settings(sqlite_url, worker={"concurrency": 1, "poll_seconds": 0.05})
    ctx = create_context(settings)
    keys = prepare(ctx)
    pool = WorkerPool(ctx, concurrency=1, sender=False)
    pool.start()
    server, thread, url = _serve(create_app(ctx=ctx))
    live = LiveServer(ctx, keys, url, pool)
    try:
        yield live
    finally:
        live.http.close()
        server.should_exit = True
        thread.join(10)
        live.pool.stop()
        ctx.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; CI must install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()
