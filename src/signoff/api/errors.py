"""One table from errors to HTTP status, and the handlers that answer JSON (or HTML)."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import sqlalchemy.exc as sa_exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from signoff.api import schemas
from signoff.domain import errors

log = logging.getLogger(__name__)

#: What a client should wait before retrying while the database cannot be reached.
RETRY_AFTER_SECONDS = 5


class DatabaseUnavailable(errors.SignoffError):
    """The database cannot be reached right now; retry shortly."""

    code = "database_unavailable"


class UnsupportedMediaType(errors.SignoffError):
    """Send a JSON body with `Content-Type: application/json`."""

    code = "unsupported_media_type"


class UnstorableValue(errors.SignoffError):
    """The database cannot store a value in this request (for example a NUL character)."""

    code = "unstorable_value"


STATUS: dict[type[errors.SignoffError], int] = {
    errors.NotFound: 404,
    errors.InvalidTransition: 409,
    errors.StateConflict: 409,
    errors.TaskAlreadyDecided: 409,
    errors.TaskNotAssigned: 409,
    errors.ItemAlreadyReviewed: 409,
    errors.LeaseLost: 409,
    errors.InvalidWorkflow: 422,
    errors.ValidationFailed: 422,
    errors.IdempotencyConflict: 422,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    UnstorableValue: 422,
    errors.NotEnoughData: 409,
    errors.InvalidCheckpoint: 422,
    errors.SchemaOutdated: 503,
    DatabaseUnavailable: 503,
    errors.ProviderError: 502,
    errors.ConfigError: 500,
    errors.LinkRefused: 410,
    errors.SignInRequired: 401,
    errors.WorkflowPaused: 503,
    errors.RateLimited: 429,
    errors.QuotaExceeded: 429,
}

#: Headers that go with a status whatever raised it.
HEADERS: dict[int, dict[str, str]] = {
    401: {"WWW-Authenticate": "Bearer"},
    503: {"Retry-After": str(RETRY_AFTER_SECONDS)},
}

#: A pause lasts until an admin resumes: a client should not come back within seconds.
PAUSED_RETRY_AFTER_SECONDS = 3600

#: Headers of one error class that replace those of its status.
EXC_HEADERS: dict[type[errors.SignoffError], dict[str, str]] = {
    errors.WorkflowPaused: {"Retry-After": str(PAUSED_RETRY_AFTER_SECONDS)},
}

#: Database driver errors that mean "not reachable or busy", not "this request is wrong".
UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)

# SQLite reports a missing table as an OperationalError too; only these mean it is busy.
_SQLITE_BUSY = ("locked", "busy", "unable to open", "disk i/o")

_DESCRIPTIONS = {
    400: "The body is not valid UTF-8",
    401: "No valid API key or session",
    403: "The caller's role or workflow access does not allow this",
    404: "No such resource (or not visible to the caller)",
    409: "The resource is not in a state that allows this",
    413: "The body is larger than the configured limit",
    429: "A rate limit or the org's quota is used up; retry after `Retry-After` seconds",
    415: "The body is not JSON (`Content-Type: application/json`)",
    422: "The request is invalid; `field` names the input at fault",
    503: "The database cannot be reached; retry after `Retry-After` seconds",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses, all with the error body."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": schemas.ErrorPublic, "description": _DESCRIPTIONS[status]}
        names = [*HEADERS.get(status, {}), *(["Retry-After"] if status == 429 else [])]
        if names:
            entry["headers"] = {
                name: {"schema": {"type": "string"}, "required": True} for name in names
            }
        out[status] = entry
    return out


def status_for(exc: errors.SignoffError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def body_for(exc: errors.SignoffError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": exc.code, "detail": exc.detail}
    for key in ("field", "problems", "item_id", "task_id", "line", "paused", "retry_after"):
        if key in exc.context:
            body[key] = exc.context[key]
    return body


def is_unavailable(exc: Exception) -> bool:
    """Whether a database error means the database is down, unreachable or locked."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, UNAVAILABLE):
        return False
    orig = getattr(exc, "orig", None)
    if isinstance(orig, sqlite3.OperationalError):
        return any(word in str(orig).lower() for word in _SQLITE_BUSY)
    return True


#: Methods a 405 answer may list in `Allow`.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (routes are per method, not per path)."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def _render(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    merged = {**HEADERS.get(status, {}), **(headers or {})}
    renderer = getattr(request.app.state, "error_page", None)
    if renderer is not None and _wants_html(request):
        try:
            page: Response = renderer(request, status, body)
        except sa_exc.DBAPIError as exc:
            # The page looks up who is signed in; during an outage that fails too.
            if not is_unavailable(exc):
                raise
        else:
            page.headers.update(merged)
            return page
    return JSONResponse(body, status_code=status, headers=merged or None)


def _sends_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


def _validation_body(request: Request, exc: RequestValidationError) -> tuple[int, dict[str, Any]]:
    problems = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body",)]
        message = e.get("msg", "")
        if e.get("type") == "string_pattern_mismatch" and "\\x00" in str(
            (e.get("ctx") or {}).get("pattern", "")
        ):
            message = "must not contain NUL characters (\\u0000)"
        problems.append({"field": ".".join(loc) or "(body)", "message": message})
    first = problems[0] if problems else {"field": "(body)", "message": "invalid"}
    body_problem = any(e.get("loc", ("",))[0] == "body" for e in exc.errors())
    if body_problem and not _sends_json(request):
        sent = request.headers.get("content-type") or "no Content-Type"
        return 415, body_for(
            UnsupportedMediaType(
                f"expected a JSON body with `Content-Type: application/json`, got {sent}",
                field="(body)",
            )
        )
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return 422, {
            "error": "invalid_json",
            "detail": "the request body is not valid JSON",
            "field": "(body)",
            "problems": problems,
        }
    return 422, {
        "error": "validation_error",
        "detail": f"{first['field']}: {first['message']}",
        "field": first["field"],
        "problems": problems,
    }


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.SignoffError)
    async def _signoff_error(request: Request, exc: errors.SignoffError) -> Response:
        headers = EXC_HEADERS.get(type(exc))
        retry_after = exc.context.get("retry_after")
        if retry_after is not None:
            headers = {**(headers or {}), "Retry-After": str(int(retry_after))}
        return _render(request, status_for(exc), body_for(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        status, body = _validation_body(request, exc)
        return _render(request, status, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}.get(
            exc.status_code, "http_error"
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # The router names only the first route it matched; the path may have several.
            headers["Allow"] = ", ".join(allowed_methods(request))
        return _render(
            request, exc.status_code, {"error": code, "detail": str(exc.detail)}, headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("action=unhandled_error path=%s", request.url.path)
        return _render(request, 500, {"error": "internal_error", "detail": "internal server error"})

    async def _database_error(request: Request, exc: Exception) -> Response:
        if not is_unavailable(exc):
            raise exc  # a bug, not an outage: let the server error handler log it as one
        log.warning(
            "action=database_unavailable path=%s error=%s", request.url.path, type(exc).__name__
        )
        unavailable = DatabaseUnavailable()
        return _render(request, status_for(unavailable), body_for(unavailable))

    async def _data_error(request: Request, exc: Exception) -> Response:
        # The driver refused a value of the request (PostgreSQL: NUL in text, out-of-range
        # numbers); nothing was written, since the statement failed inside the transaction.
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        log.warning("action=value_refused path=%s error=%s", request.url.path, type(exc).__name__)
        refused = UnstorableValue(f"the database cannot store a value of this request: {reason}")
        return _render(request, status_for(refused), body_for(refused))

    app.add_exception_handler(sa_exc.DataError, _data_error)
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)
    app.add_exception_handler(sa_exc.TimeoutError, _database_error)
