"""`signoff serve | worker`: the long-running processes."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Annotated, Any

import typer

from signoff import installation
from signoff.cli.common import console, friendly, open_context, settle_heap

log = logging.getLogger(__name__)

HostOption = Annotated[
    str | None,
    typer.Option(
        help="Address to bind; 0.0.0.0 listens on every interface",
        show_default="SIGNOFF_HOST, else 127.0.0.1",
    ),
]
PortOption = Annotated[
    int | None,
    typer.Option(help="Port to bind", show_default="SIGNOFF_PORT, else 8000"),
]


@friendly
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(help="AI-step threads", show_default="SIGNOFF_WORKER__CONCURRENCY, else 2"),
    ] = None,
    health_port: Annotated[
        int | None,
        typer.Option(
            help="Answer /healthz and /readyz on this port (for a health check)",
            show_default="SIGNOFF_WORKER__HEALTH_PORT, else none",
        ),
    ] = None,
) -> None:
    """Run background workers (AI step, outbox sender) against the database."""
    from signoff.services import live
    from signoff.workers.runner import WorkerPool

    ctx = open_context()
    # On PostgreSQL, this process's decisions reach UI servers' live pages at once.
    bridge = live.start_bridge(ctx)
    pool = WorkerPool(ctx, concurrency=concurrency)
    pool.start()
    port = health_port or ctx.settings.worker.health_port
    probes = _serve_probes(ctx, pool, ctx.settings.host, port) if port else None
    where = f"; /readyz on {ctx.settings.host}:{port}" if port else ""
    settle_heap()
    console.print(f"worker {pool.name} running ({pool.concurrency} threads{where}); Ctrl-C to stop")
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    if probes is not None:
        probes.should_exit = True
    pool.stop()
    if bridge is not None:
        bridge.stop()


def _serve_probes(ctx: Any, pool: Any, host: str, port: int) -> Any:
    """Serve the worker's /healthz and /readyz from a background thread; the uvicorn server."""
    import uvicorn

    from signoff.app import create_probe_app

    server = uvicorn.Server(
        uvicorn.Config(create_probe_app(ctx, pool), host=host, port=port, log_level="warning")
    )
    threading.Thread(target=server.run, name="signoff-probes", daemon=True).start()
    return server


MAX_PROCESSES = 64
ProcessesOption = Annotated[
    int,
    typer.Option(
        metavar="N",
        help="Processes serving the port, one per core (PostgreSQL)",
    ),
]


@friendly
def serve(
    host: HostOption = None,
    port: PortOption = None,
    workers: Annotated[
        bool,
        typer.Option(
            help="Run workers in this process; --no-workers when `signoff worker` processes do"
        ),
    ] = True,
    processes: ProcessesOption = 1,
) -> None:
    """Serve the API and UI, with workers in the same process."""
    import uvicorn

    if not 1 <= processes <= MAX_PROCESSES:
        console.print(f"[red]error:[/red] --processes takes 1 to {MAX_PROCESSES}, not {processes}")
        raise typer.Exit(2)
    ctx = open_context()
    settings = ctx.settings
    installation.check_bind(settings, host or settings.host)
    host, port = host or settings.host, port or settings.port
    url = f"http://{host}:{port}"
    if processes > 1:
        if ctx.engine.dialect.name != "postgresql":
            console.print(
                "[red]error:[/red] --processes needs PostgreSQL: live pages and caches "
                "of several processes stay in step through it; on SQLite serve from one"
            )
            raise typer.Exit(2)
        ctx.close()  # the supervisor serves nothing itself
        # Each process builds its own context (and workers) from the same settings.
        os.environ[_PROCESS_WORKERS] = "1" if workers else "0"
        console.print(f"signoff serving at {url} from {processes} processes")
        uvicorn.run(
            f"{__name__}:process_app",
            factory=True,
            workers=processes,
            host=host,
            port=port,
            log_level="warning",
        )
        return
    pool = _start_pool(ctx, workers)
    application = _app(ctx, pool)
    settle_heap()
    console.print(f"signoff serving at {url}")
    try:
        uvicorn.run(application, host=host, port=port, log_level="warning")
    finally:
        if pool:
            pool.stop()


#: How `serve --processes` tells its processes whether to run workers.
_PROCESS_WORKERS = "SIGNOFF_SERVE_PROCESS_WORKERS"


def _start_pool(ctx: Any, workers: bool) -> Any:
    from signoff.workers.runner import WorkerPool

    if not (workers and ctx.settings.worker.enabled):
        return None
    pool = WorkerPool(ctx)
    pool.start()
    return pool


def _app(ctx: Any, pool: Any) -> Any:
    from signoff.app import create_app

    return create_app(ctx=ctx, workers=pool)


def process_app() -> Any:
    """The app of one of `serve --processes N`'s processes: its own context and workers,
    which stop when the process does."""
    from contextlib import asynccontextmanager

    ctx = open_context()
    pool = _start_pool(ctx, os.environ.get(_PROCESS_WORKERS) == "1")
    application = _app(ctx, pool)
    inner = application.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        try:
            async with inner(app) as state:
                yield state
        finally:
            if pool:
                pool.stop()

    application.router.lifespan_context = lifespan
    settle_heap()
    log.info("action=serve_process_started pid=%s workers=%s", os.getpid(), pool is not None)
    return application
