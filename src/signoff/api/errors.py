"""One table from errors to HTTP status, and the handlers that answer JSON (or HTML)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from signoff.domain import errors

log = logging.getLogger(__name__)

STATUS: dict[type[errors.SignoffError], int] = {
    errors.NotFound: 404,
    errors.InvalidTransition: 409,
    errors.StateConflict: 409,
    errors.TaskAlreadyDecided: 409,
    errors.TaskNotAssigned: 409,
    errors.LeaseLost: 409,
    errors.InvalidWorkflow: 422,
    errors.ValidationFailed: 422,
    errors.IdempotencyConflict: 422,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.PayloadTooLarge: 413,
    errors.NotEnoughData: 409,
    errors.SchemaOutdated: 503,
    errors.ProviderError: 502,
    errors.ConfigError: 500,
}


def status_for(exc: errors.SignoffError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def body_for(exc: errors.SignoffError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": exc.code, "detail": exc.detail}
    for key in ("field", "problems", "item_id", "task_id", "line"):
        if key in exc.context:
            body[key] = exc.context[key]
    return body


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def _render(request: Request, status: int, body: dict[str, Any]) -> Response:
    renderer = getattr(request.app.state, "error_page", None)
    if renderer is not None and _wants_html(request):
        return renderer(request, status, body)  # type: ignore[no-any-return]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.SignoffError)
    async def _signoff_error(request: Request, exc: errors.SignoffError) -> Response:
        return _render(request, status_for(exc), body_for(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ()) if p not in ("body",)]
            problems.append({"field": ".".join(loc) or "(body)", "message": e.get("msg", "")})
        first = problems[0] if problems else {"field": "(body)", "message": "invalid"}
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            body = {
                "error": "invalid_json",
                "detail": "the request body is not valid JSON",
                "field": "(body)",
                "problems": problems,
            }
        else:
            body = {
                "error": "validation_error",
                "detail": f"{first['field']}: {first['message']}",
                "field": first["field"],
                "problems": problems,
            }
        return _render(request, 422, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}.get(
            exc.status_code, "http_error"
        )
        return _render(request, exc.status_code, {"error": code, "detail": str(exc.detail)})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("action=unhandled_error path=%s", request.url.path)
        return _render(request, 500, {"error": "internal_error", "detail": "internal server error"})
