"""Sessions, CSRF tokens, security headers and role checks for the web UI.

The session is Starlette's itsdangerous-signed cookie (HttpOnly, SameSite=Lax,
Secure over https), keyed by a secret derived from `settings.secret_key`. It
holds the user id, the token of a server-side session (which signing out, a new
password, a role change or deactivation ends), a per-session CSRF token and
short-lived flash messages.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated, Any

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signoff.domain import errors
from signoff.domain.states import Role
from signoff.services import users
from signoff.settings import Settings

SESSION_COOKIE = "signoff_session"
SESSION_MAX_AGE = int(users.SESSION_LIFETIME.total_seconds())
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
#: JSON, text and everything else that is not a page: nothing may load or frame it.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
#: FastAPI's /docs and /redoc load their scripts from a CDN; they may still not be framed.
DOCS_CSP = "frame-ancestors 'none'"
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
#: Two years, subdomains included: the value HSTS preload lists ask for.
HSTS = "max-age=63072000; includeSubDomains"


def derived_secret(settings: Settings, purpose: str) -> str:
    """A key for one purpose, so the session key is not the webhook key."""
    return hmac.new(
        settings.signing_secret().encode(), purpose.encode(), hashlib.sha256
    ).hexdigest()


def is_ui_path(path: str) -> bool:
    return path == "/" or path == "/ui" or path.startswith("/ui/")


class SessionUser:
    """Set `request.state.session_user_id` from the session.

    API calls made with the session cookie (no API key) must also send the session's
    CSRF token in `X-CSRF-Token` when they change something.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session: dict[str, Any] = scope.get("session") or {}
        user_id, token = session.get("uid"), session.get("sid")
        signed_in = isinstance(user_id, int) and isinstance(token, str)
        if signed_in and self._may_authenticate(scope, session):
            state = scope.setdefault("state", {})
            state["session_user_id"] = user_id
            state["session_token"] = token
        await self.app(scope, receive, send)

    @staticmethod
    def _may_authenticate(scope: Scope, session: dict[str, Any]) -> bool:
        if is_ui_path(scope["path"]) or scope["method"] not in UNSAFE_METHODS:
            return True  # UI forms carry their own token, checked by verify_csrf
        sent = dict(scope.get("headers") or []).get(b"x-csrf-token", b"").decode("latin-1")
        expected = session.get("csrf")
        return bool(sent and expected and hmac.compare_digest(sent, str(expected)))


class SecurityHeaders:
    """Security headers on every response: pages, API, errors, static files and metrics.

    Over https (the request's scheme, which uvicorn takes from `X-Forwarded-Proto` of a
    trusted proxy, or an https `SIGNOFF_PUBLIC_URL`), responses also carry HSTS and the
    session cookie is marked Secure.
    """

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        ui = is_ui_path(path)
        secure = self.https or scope.get("scheme") == "https"
        csp = CSP if ui else DOCS_CSP if path in DOCS_PATHS else API_CSP

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if secure:
                    message["headers"] = [_secure_cookie(k, v) for k, v in message["headers"]]
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", csp)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "same-origin"
                if secure:
                    headers["Strict-Transport-Security"] = HSTS
                if ui and not path.startswith("/ui/static/") and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


def _secure_cookie(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    """The session cookie with `Secure`, whatever the session middleware was configured with."""
    if (
        name.lower() == b"set-cookie"
        and value.startswith(SESSION_COOKIE.encode() + b"=")
        and b"; secure" not in value.lower()
    ):
        return name, value + b"; secure"
    return name, value


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def verify_csrf(request: Request) -> None:
    """Refuse (403) an unsafe request whose form lacks the session's CSRF token."""
    if request.method not in UNSAFE_METHODS:
        return
    form = await request.form()
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if (
        not isinstance(sent, str)
        or not isinstance(expected, str)
        or not hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise errors.Forbidden(
            "this form's security token is missing or out of date; reload the page and try again"
        )


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields (repeated names keep the last value)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormDep = Annotated[dict[str, str], Depends(form_fields)]


async def form_lists(request: Request) -> dict[str, list[str]]:
    """The posted form's text fields with every value of a repeated name (checkboxes)."""
    form = await request.form()
    return {k: [v for v in form.getlist(k) if isinstance(v, str)] for k in form}


FormListsDep = Annotated[dict[str, list[str]], Depends(form_lists)]


class LoginRequired(Exception):
    """The page needs a signed-in user; the handler redirects to the sign-in page."""


def session_principal(request: Request) -> users.Principal | None:
    """The signed-in user, if the session cookie names a live server-side session."""
    user_id, token = request.session.get("uid"), request.session.get("sid")
    if not isinstance(user_id, int) or not isinstance(token, str):
        return None
    return users.principal_for_session(request.app.state.ctx, user_id, token)


def current_user(request: Request) -> users.Principal:
    """The signed-in user, or LoginRequired."""
    principal = session_principal(request)
    if principal is None:
        raise LoginRequired()
    request.state.principal = principal
    return principal


UserDep = Annotated[users.Principal, Depends(current_user)]


def require_roles(*roles: Role) -> Any:
    """A dependency: the signed-in user, if their role is one of `roles`, else 403."""

    def check(principal: UserDep) -> users.Principal:
        if principal.role not in roles:
            raise errors.Forbidden(
                f"this page needs role {' or '.join(r.value for r in roles)}; "
                f"you are {principal.role.value}"
            )
        return principal

    return Depends(check)


AdminUI = Annotated[users.Principal, require_roles(Role.ADMIN)]
ReviewerUI = Annotated[users.Principal, require_roles(Role.REVIEWER, Role.ADMIN)]
OverseerUI = Annotated[users.Principal, require_roles(Role.ADMIN, Role.AUDITOR)]


def flash(request: Request, message: str, kind: str = "info") -> None:
    """Show `message` on the next page this session renders."""
    messages = list(request.session.get("flash") or [])
    messages.append({"kind": kind, "text": message[:500]})
    request.session["flash"] = messages[-5:]


def pop_flashes(request: Request) -> list[dict[str, str]]:
    messages = request.session.pop("flash", None) or []
    return [m for m in messages if isinstance(m, dict)]


def safe_next(target: str | None) -> str | None:
    """A post-sign-in redirect target, only if it stays on this site's UI."""
    if not target or not target.startswith("/ui/") or target.startswith("//") or "\\" in target:
        return None
    return target


class TaskClock:
    """Signs when a task page was rendered, so time on task is measured server-side."""

    def __init__(self, settings: Settings) -> None:
        self._serializer = URLSafeSerializer(derived_secret(settings, "task-start"), "task-start")

    def stamp(self, task_id: int, now_ms: int) -> str:
        return self._serializer.dumps([task_id, now_ms])

    def elapsed_ms(self, token: str | None, task_id: int, now_ms: int) -> int | None:
        """Milliseconds since the stamp for this task, or None if missing or forged."""
        if not token:
            return None
        try:
            stamped_task, started = self._serializer.loads(token)
        except (BadSignature, ValueError, TypeError):
            return None
        if stamped_task != task_id or not isinstance(started, int):
            return None
        return max(0, min(now_ms - started, 24 * 3600 * 1000))
