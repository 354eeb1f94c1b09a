"""create_app(settings): the ASGI application serving the API and the UI."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signoff import __version__, ui
from signoff.api import (
    compliance,
    groups,
    items,
    limits,
    metrics,
    oversight,
    reviews,
    schemas,
    workflows,
)
from signoff.api import errors as api_errors
from signoff.services import live
from signoff.services.context import Context, create_context
from signoff.settings import Settings
from signoff.ui import security as ui_security

log = logging.getLogger(__name__)

#: Seconds a load balancer should wait before asking /readyz again.
READY_RETRY_AFTER = 5


class Workers(Protocol):
    """What readiness needs of the worker threads a process runs (workers.runner.WorkerPool)."""

    def dead_threads(self) -> list[str]: ...


def create_app(
    settings: Settings | None = None,
    *,
    ctx: Context | None = None,
    workers: Workers | None = None,
) -> FastAPI:
    """Build the app; pass `ctx` to share a context (tests, `signoff serve`), and the
    worker pool running in this process, if any, so that /readyz watches it."""
    settings = settings or (ctx.settings if ctx else Settings())
    ctx = ctx or create_context(settings)
    app = FastAPI(
        title="signoff",
        version=__version__,
        description="People in the loop of AI decisions.",
    )
    app.state.ctx = ctx
    api_errors.install(app)
    app.include_router(workflows.router)
    app.include_router(items.router)
    app.include_router(reviews.router)
    app.include_router(groups.router)
    app.include_router(metrics.router)
    app.include_router(compliance.router)
    app.include_router(oversight.router)
    ui.install(app, ctx)
    _run_live_bridge(app, ctx)
    _add_probes(app, ctx, workers)

    app.add_middleware(limits.BodyLimits, max_bytes=settings.limits.max_body_bytes)
    app.add_middleware(ServerTiming)
    # Outermost, so that refusals by the other middleware carry the headers too.
    app.add_middleware(
        ui_security.SecurityHeaders,
        https=settings.public_url.lower().startswith("https://"),
    )
    return app


class ServerTiming:
    """`Server-Timing: app;dur=<ms>` on every answer: the time this process spent on the
    request until its answer started, so a client (or a load test) can tell the
    server's share of a round trip from the network's and its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                MutableHeaders(scope=message).append("Server-Timing", f"app;dur={took:.1f}")
            await send(message)

        await self.app(scope, receive, timed)


def create_probe_app(ctx: Context, workers: Workers) -> FastAPI:
    """`/healthz` and `/readyz` alone: what `signoff worker --health-port` serves."""
    app = FastAPI(title="signoff worker", version=__version__, openapi_url=None)
    _add_probes(app, ctx, workers)
    return app


def _add_probes(app: FastAPI, ctx: Context, workers: Workers | None) -> None:
    """Liveness and readiness: the database answers and this process's worker threads run."""

    @app.get("/healthz", tags=["ops"], response_model=schemas.HealthPublic)
    def healthz() -> dict[str, Any]:
        """Liveness: the process answers HTTP."""
        return {"status": "ok", "version": __version__}

    @app.get(
        "/readyz",
        tags=["ops"],
        response_model=schemas.ReadyPublic,
        responses={
            503: {
                "model": schemas.ReadyPublic,
                "description": "Not ready: the database or a worker thread is down",
                "headers": {
                    "Retry-After": {"schema": {"type": "string"}, "required": True},
                },
            }
        },
    )
    def readyz() -> JSONResponse:
        """Readiness: the database answers and this process's worker threads are alive."""
        problems: list[str] = []
        body: dict[str, Any] = {"version": __version__, "database": "ok"}
        try:
            with ctx.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except Exception as exc:
            log.warning("action=not_ready check=database error=%s", type(exc).__name__)
            body["database"] = "unavailable"
            problems.append("the database does not answer")
        if workers is not None:
            dead = workers.dead_threads()
            body["workers"] = {"status": "dead" if dead else "ok", "dead": dead}
            if dead:
                problems.append(f"worker threads not running: {', '.join(dead)}")
        if not problems:
            return JSONResponse({"status": "ready", **body})
        body.update(status="not_ready", error="not_ready", detail="; ".join(problems))
        return JSONResponse(body, status_code=503, headers={"Retry-After": str(READY_RETRY_AFTER)})


def _run_live_bridge(app: FastAPI, ctx: Context) -> None:
    """On PostgreSQL, relay live events between processes for as long as the app runs."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        bridge = live.start_bridge(ctx)
        try:
            async with inner(application) as state:
                yield state
        finally:
            if bridge is not None:
                bridge.stop()

    app.router.lifespan_context = lifespan
