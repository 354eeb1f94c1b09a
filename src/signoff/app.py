"""create_app(settings): the ASGI application serving the API and the UI."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from signoff import __version__, ui
from signoff.api import errors as api_errors
from signoff.api import items, limits, metrics, reviews, schemas, workflows
from signoff.services.context import Context, create_context
from signoff.settings import Settings


def create_app(settings: Settings | None = None, *, ctx: Context | None = None) -> FastAPI:
    """Build the app; pass `ctx` to share a context (tests, `signoff serve`)."""
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
    app.include_router(metrics.router)
    ui.install(app, ctx)

    @app.get("/healthz", tags=["ops"], response_model=schemas.HealthPublic)
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    app.add_middleware(limits.BodyLimits, max_bytes=settings.limits.max_body_bytes)
    return app
