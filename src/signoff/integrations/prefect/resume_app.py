"""An ASGI receiver for signoff's signed decision webhook that resumes suspended Prefect flow runs.

Run it next to a self-hosted Prefect server (it talks to `PREFECT_API_URL`):

    WEBHOOK_SECRET=whsec_... uvicorn --factory signoff.integrations.prefect.resume_app:create_app

and point the workflow's `delivery.webhook_url` at it. It answers signoff so that
delivery does the right thing: 2xx when the run was resumed, has finished already or
the item is not a Prefect one, 409 while the run is not suspended yet (signoff
retries with backoff), 410 when there is no such run (signoff stops), 401 for a bad
signature.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any

from prefect import get_client
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from signoff.integrations import prefect as signoff_prefect

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
DECIDED_EVENT = "item.decided"
FINISHED = {StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED}


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def flow_run_id_of(payload: Any) -> uuid.UUID | None:
    """The flow run a decision webhook is meant for, None when it is no Prefect item's."""
    if not isinstance(payload, dict) or payload.get("type") != DECIDED_EVENT:
        return None
    data = payload.get("data")
    external_id = data.get("external_id") if isinstance(data, dict) else None
    if not isinstance(external_id, str) or not external_id.startswith(
        signoff_prefect.EXTERNAL_ID_PREFIX
    ):
        return None
    try:
        return uuid.UUID(external_id[len(signoff_prefect.EXTERNAL_ID_PREFIX) :])
    except ValueError:
        return None


async def resume(flow_run_id: uuid.UUID) -> Response:
    """Resume the run if it is suspended; say with the status code what signoff should do."""
    async with get_client() as client:
        try:
            flow_run = await client.read_flow_run(flow_run_id)
        except ObjectNotFound:
            return _error(410, "flow_run_not_found", f"no flow run {flow_run_id}")
        state = flow_run.state
        if state is None or state.type in FINISHED:
            # It finished already (say, an auto-decided item it did not suspend for).
            return JSONResponse({"ignored": "flow run finished", "flow_run_id": str(flow_run_id)})
        if not state.is_paused():
            # Decided before the flow got to suspend: signoff delivers again later.
            return _error(409, "flow_run_not_suspended", f"flow run is {state.type.value}")
        result = await client.resume_flow_run(flow_run_id)
    if result.status.value != "ACCEPT":
        reason = getattr(result.details, "reason", None) or result.status.value
        return _error(409, "resume_rejected", str(reason))
    log.info("action=flow_run_resumed flow_run_id=%s", flow_run_id)
    return JSONResponse({"resumed": str(flow_run_id)})


def create_app(secret: str | None = None) -> Starlette:
    """The receiver, verifying signatures with `secret` (default: `WEBHOOK_SECRET`)."""
    secret = secret or os.environ.get("WEBHOOK_SECRET")
    if not secret:
        raise ValueError("the resume app needs the workflow's whsec_ secret (WEBHOOK_SECRET)")
    verifier = Webhook(secret)

    async def receive(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, "too_large", f"a webhook body is at most {MAX_BODY} bytes")
        try:
            payload = verifier.verify(body, dict(request.headers))
        except WebhookVerificationError:
            return _error(401, "bad_signature", "the webhook signature does not verify")
        except json.JSONDecodeError:
            return _error(400, "bad_json", "the body is not JSON")
        flow_run_id = flow_run_id_of(payload)
        if flow_run_id is None:
            return Response(status_code=204)  # not a Prefect item's decision: nothing to do
        try:
            return await resume(flow_run_id)
        except Exception as exc:  # Prefect unreachable or failing: signoff retries later
            log.warning("action=resume_failed flow_run_id=%s error=%r", flow_run_id, exc)
            return _error(503, "prefect_unavailable", type(exc).__name__)

    return Starlette(routes=[Route("/", receive, methods=["POST"])])
