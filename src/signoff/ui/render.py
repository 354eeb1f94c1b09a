"""Jinja rendering (autoescaped), display filters, and the HTML error page."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt

from signoff.domain.states import Role
from signoff.services import stop_switch
from signoff.services.users import Principal
from signoff.ui import security

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def when(value: Any) -> str:
    """A timestamp as `2026-01-05 14:03:22 UTC`."""
    moment = _as_datetime(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def duration(seconds: Any) -> str:
    """A number of seconds as `4.2 s`, `12 min`, `3.5 h` or `2.1 d`."""
    if seconds is None:
        return "—"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def ago(value: Any, now: datetime | None = None) -> str:
    moment = _as_datetime(value)
    if moment is None:
        return "—"
    return duration(max(0.0, ((now or datetime.now(UTC)) - moment).total_seconds()))


def pct(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{float(value) * 100:.{digits}f} %"


def conf(value: Any) -> str:
    return "—" if value is None else f"{float(value):.2f}"


def actor(value: Any) -> str:
    """`user:ann@example.com` → `ann@example.com`; `ai` → `AI`."""
    text = str(value or "")
    if text.startswith("user:"):
        return text[5:]
    if text == "ai":
        return "AI"
    return text


def short_json(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


def markdown_renderer() -> MarkdownIt:
    """CommonMark with raw HTML off: workflow instructions show markup as text, never run it."""
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def make_environment() -> jinja2.Environment:
    """Autoescape on for every template: content, labels and comments are untrusted."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        duration=duration,
        ago=ago,
        pct=pct,
        conf=conf,
        actor=actor,
        short_json=short_json,
        pretty_json=pretty_json,
    )
    markdown = markdown_renderer()
    # MarkdownIt escapes text and, with html off, raw HTML; unsafe link schemes are dropped.
    env.filters["markdown"] = lambda text: markupsafe.Markup(markdown.render(str(text or "")))
    return env


templates = Jinja2Templates(env=make_environment())


def nav_for(principal: Principal | None) -> list[tuple[str, str]]:
    """The navigation links a role sees (the pages check roles again themselves)."""
    if principal is None:
        return []
    links: list[tuple[str, str]] = []
    if principal.role in (Role.REVIEWER, Role.ADMIN):
        links += [
            ("/ui/queue", "Queue"),
            ("/ui/my-tasks", "My tasks"),
            ("/ui/settings/notifications", "Notifications"),
        ]
    if principal.role in (Role.ADMIN, Role.AUDITOR):
        links += [("/ui/items", "Items"), ("/ui/dashboard", "Dashboard")]
    if principal.role is Role.ADMIN:
        links += [
            ("/ui/admin/workflows", "Workflows"),
            ("/ui/admin/users", "Users"),
            ("/ui/admin/keys", "API keys"),
        ]
    return links


def home_for(principal: Principal) -> str:
    return "/ui/queue" if principal.role in (Role.REVIEWER, Role.ADMIN) else "/ui/dashboard"


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page with the layout's shared values (user, nav, CSRF token, flashes)."""
    principal = getattr(request.state, "principal", None)
    values: dict[str, Any] = {
        "principal": principal,
        "nav": nav_for(principal),
        "path": request.url.path,
        "csrf_token": security.csrf_token(request),
        "flashes": security.pop_flashes(request),
        "title": None,
        "paused_workflows": _paused(request, principal),
    }
    values.update(context or {})
    return templates.TemplateResponse(request, name, values, status_code=status, headers=headers)


def _paused(request: Request, principal: Principal | None) -> list[Any]:
    """The paused workflows the signed-in user may see, for the layout's banner."""
    if principal is None:
        return []
    ctx = getattr(request.app.state, "ctx", None)
    if ctx is None:
        return []
    return [(n, p) for n, p in stop_switch.list_paused(ctx) if principal.may_access(n)]


def error_page(request: Request, status: int, body: dict[str, Any]) -> Response:
    """The HTML twin of the API's error body, rendered in the layout."""
    headings = {
        401: "Please sign in",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        422: "Check your input",
        500: "Something went wrong",
    }
    if getattr(request.state, "principal", None) is None:
        # The error may come before the page looked up its user; show the layout anyway.
        request.state.principal = security.session_principal(request)
    return render(
        request,
        "error.html",
        {
            "title": headings.get(status, "Error"),
            "status": status,
            "error": body.get("error"),
            "detail": body.get("detail"),
        },
        status=status,
    )
