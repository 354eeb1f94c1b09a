"""`signoff serve | worker`: the long-running processes."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer

from signoff import installation
from signoff.cli.common import console, friendly, open_context

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
) -> None:
    """Serve the API and UI, with workers in the same process."""
    import uvicorn

    from signoff.app import create_app
    from signoff.workers.runner import WorkerPool

    ctx = open_context()
    settings = ctx.settings
    installation.check_bind(settings, host or settings.host)
    pool = WorkerPool(ctx) if workers and settings.worker.enabled else None
    if pool:
        pool.start()
    application = create_app(ctx=ctx, workers=pool)
    url = f"http://{host or settings.host}:{port or settings.port}"
    console.print(f"signoff serving at {url}")
    try:
        uvicorn.run(
            application, host=host or settings.host, port=port or settings.port, log_level="warning"
        )
    finally:
        if pool:
            pool.stop()
