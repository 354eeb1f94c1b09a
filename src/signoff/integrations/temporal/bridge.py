"""An ASGI receiver for signoff's signed decision webhook that signals the waiting Temporal workflow.

Run it where signoff's webhooks can reach it and it can reach Temporal:

    WEBHOOK_SECRET=whsec_... TEMPORAL_ADDRESS=temporal:7233 \\
        uvicorn --factory signoff.integrations.temporal.bridge:create_app

The item's external id `temporal:<workflow id>` names the workflow; the bridge sends
it the `signoff_decision` signal with the webhook's `data`. Signals are durable: a
workflow whose worker is down gets it when a worker runs it again. Answers: 200 when
signalled (or the workflow has already finished), 204 for an item that is no Temporal
one, 401 for a bad signature, 410 when no such workflow exists, 503 when Temporal is
unreachable (signoff retries).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from signoff.integrations import temporal as names

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
DECIDED_EVENT = "item.decided"


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def decision_of(payload: Any) -> tuple[str, dict[str, Any]] | None:
    """(workflow id, decision data) of a decision webhook for a Temporal item, else None."""
    if not isinstance(payload, dict) or payload.get("type") != DECIDED_EVENT:
        return None
    data = payload.get("data")
    if not isinstance(data, dict):
        return None
    external_id = data.get("external_id")
    if not isinstance(external_id, str) or not external_id.startswith(names.EXTERNAL_ID_PREFIX):
        return None
    workflow_id = external_id[len(names.EXTERNAL_ID_PREFIX) :]
    return (workflow_id, data) if workflow_id else None


class Bridge:
    """Verifies webhooks and signals workflows; connects to Temporal on first use."""

    def __init__(self, secret: str, address: str, namespace: str) -> None:
        self.verifier = Webhook(secret)
        self.address = address
        self.namespace = namespace
        self._client: Client | None = None

    async def client(self) -> Client:
        if self._client is None:
            self._client = await Client.connect(self.address, namespace=self.namespace)
        return self._client

    async def signal(self, workflow_id: str, data: dict[str, Any]) -> Response:
        handle = (await self.client()).get_workflow_handle(workflow_id)
        try:
            await handle.signal(names.SIGNAL, data)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            try:
                await handle.describe()
            except RPCError as missing:
                if missing.status == RPCStatusCode.NOT_FOUND:
                    return _error(410, "workflow_not_found", f"no workflow {workflow_id!r}")
                raise
            # It finished already (say, an auto-decided item it did not wait for).
            return JSONResponse({"ignored": "workflow finished", "workflow_id": workflow_id})
        log.info(
            "action=workflow_signalled workflow_id=%s item_id=%s", workflow_id, data.get("item_id")
        )
        return JSONResponse({"signalled": workflow_id})

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, "too_large", f"a webhook body is at most {MAX_BODY} bytes")
        try:
            payload = self.verifier.verify(body, dict(request.headers))
        except WebhookVerificationError:
            return _error(401, "bad_signature", "the webhook signature does not verify")
        except json.JSONDecodeError:
            return _error(400, "bad_json", "the body is not JSON")
        target = decision_of(payload)
        if target is None:
            return Response(status_code=204)  # not a Temporal item's decision
        try:
            return await self.signal(*target)
        except Exception as exc:  # Temporal unreachable or failing: signoff retries later
            log.warning("action=signal_failed workflow_id=%s error=%r", target[0], exc)
            self._client = None
            return _error(503, "temporal_unavailable", type(exc).__name__)


def create_app(
    secret: str | None = None, address: str | None = None, namespace: str | None = None
) -> Starlette:
    """The bridge app; unset arguments come from WEBHOOK_SECRET, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE."""
    secret = secret or os.environ.get("WEBHOOK_SECRET")
    if not secret:
        raise ValueError("the bridge needs the workflow's whsec_ secret (WEBHOOK_SECRET)")
    bridge = Bridge(
        secret,
        address or os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"),
        namespace or os.environ.get("TEMPORAL_NAMESPACE", "default"),
    )
    return Starlette(routes=[Route("/", bridge.receive, methods=["POST"])])
