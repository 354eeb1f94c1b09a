"""The web UI: server-rendered pages, static files, live queue pages; `install` wires it in."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from signoff.services.context import Context
from signoff.ui import (
    admin,
    auth,
    browse,
    dashboard,
    items,
    links,
    render,
    review,
    security,
    stream,
)


def install(app: FastAPI, ctx: Context) -> None:
    """Mount the pages and static files, the session and the HTML error page."""
    for module in (auth, review, items, browse, dashboard, admin, stream, links):
        app.include_router(module.router, include_in_schema=False)
    app.include_router(links.settings_router, include_in_schema=False)
    app.mount("/ui/static", StaticFiles(directory=str(render.STATIC)), name="ui-static")
    app.state.error_page = render.error_page

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/ui/", 303)

    @app.get("/ui/", include_in_schema=False)
    def ui_home(principal: security.UserDep) -> Response:
        return RedirectResponse(render.home_for(principal), 303)

    async def login_required(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith("/ui/") or request.url.path == "/ui/stream":
            return Response("sign in first", status_code=401, media_type="text/plain")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/ui/login?next={quote(target, safe='/')}", 303)

    app.add_exception_handler(security.LoginRequired, login_required)
    # Added last so it runs first: the session must exist before SessionUser reads it.
    app.add_middleware(security.SessionUser)
    app.add_middleware(
        SessionMiddleware,
        secret_key=security.derived_secret(ctx.settings, "ui-session"),
        session_cookie=security.SESSION_COOKIE,
        max_age=security.SESSION_MAX_AGE,
        same_site="lax",
        https_only=ctx.settings.public_url.lower().startswith("https://"),
    )
