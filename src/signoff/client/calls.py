"""The one request builder: each API call as data, and how its answer is read.

`Client` and `AsyncClient` both turn a `Call` into an HTTP request and its answer into a
model through `read`; they differ only in how they send it.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel

from signoff.client import models

M = TypeVar("M", bound=BaseModel)

#: Extra seconds a long-poll request may take beyond the wait it asked the server for.
WAIT_SLACK_SECONDS = 10.0
#: The longest single wait the client asks for; the server may cap it lower, the loop resumes.
DEFAULT_POLL_SECONDS = 30.0

# Methods whose repetition changes nothing: safe to resend after a broken connection.
_IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "HEAD", "OPTIONS"})


class ApiError(Exception):
    """The server answered with an error: `status`, `code` and `detail` from its JSON body."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        body: dict[str, Any],
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.body = body
        self.field: str | None = body.get("field")
        #: Seconds the server asked to wait before trying again (429 and 503 answers).
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later: rate limited or unavailable."""
        return self.status in (429, 503)


@dataclass(frozen=True)
class Call(Generic[M]):
    """One API request and the model its answer is read into."""

    method: str
    path: str
    answer: type[M]
    json: Any = None
    content: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    #: A 204 answer means "nothing" (claim with an empty queue) rather than an error.
    empty_ok: bool = False
    #: Sending it twice is harmless though its method is not idempotent (keyed batches).
    keyed: bool = False

    @property
    def resendable(self) -> bool:
        """Whether sending it twice is harmless, so a broken connection may be retried."""
        return self.keyed or self.method in _IDEMPOTENT or "Idempotency-Key" in self.headers

    def request_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `httpx.Client.request` for this call."""
        kwargs: dict[str, Any] = {"params": self.params or None, "headers": self.headers or None}
        if self.content is not None:
            kwargs["content"] = self.content
        elif self.json is not None:
            kwargs["json"] = self.json
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        return kwargs


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delay-seconds or HTTP-date), else None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


def check(response: httpx.Response) -> dict[str, Any] | None:
    """The JSON object the server answered, None for 204, or ApiError."""
    if response.status_code == 204:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"error": "http_error", "detail": response.text[:500]}
    if response.status_code >= 400:
        raise ApiError(
            response.status_code,
            str(body.get("error", "http_error")),
            str(body.get("detail", "")),
            body,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    return body


def read(call: Call[M], response: httpx.Response) -> M | None:
    """The call's model from the response (None for an accepted 204), or ApiError."""
    body = check(response)
    if body is None:
        if call.empty_ok:
            return None
        raise ApiError(response.status_code, "no_content", "the server answered 204", {})
    return call.answer.model_validate(body)


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# --- the calls ------------------------------------------------------------------------


def apply_workflow(name: str, definition: str | dict[str, Any]) -> Call[models.WorkflowApplied]:
    path = f"/api/v1/workflows/{name}"
    if isinstance(definition, str):
        return Call(
            "PUT",
            path,
            models.WorkflowApplied,
            content=definition,
            headers={"content-type": "application/yaml"},
        )
    return Call("PUT", path, models.WorkflowApplied, json=definition)


def get_workflow(name: str) -> Call[models.WorkflowPublic]:
    return Call("GET", f"/api/v1/workflows/{name}", models.WorkflowPublic)


def list_workflows() -> Call[models.WorkflowList]:
    return Call("GET", "/api/v1/workflows", models.WorkflowList)


def calibration(workflow: str) -> Call[models.CalibrationPublic]:
    return Call("GET", f"/api/v1/workflows/{workflow}/calibration", models.CalibrationPublic)


def item_body(
    content: dict[str, Any],
    external_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """The JSON of one item to submit (also one entry of a batch)."""
    return _drop_none(
        {
            "content": content,
            "external_id": external_id,
            "metadata": metadata,
            "idempotency_key": idempotency_key,
        }
    )


def submit(
    workflow: str,
    content: dict[str, Any],
    *,
    external_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> Call[models.ItemPublic]:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return Call(
        "POST",
        f"/api/v1/workflows/{workflow}/items",
        models.ItemPublic,
        json=item_body(content, external_id, metadata),
        headers=headers,
    )


def submit_batch(workflow: str, items: list[dict[str, Any]]) -> Call[models.ItemBatchPublic]:
    # A batch is safe to resend only when every entry carries its own idempotency key.
    keyed = all(isinstance(i, dict) and i.get("idempotency_key") for i in items)
    return Call(
        "POST",
        f"/api/v1/workflows/{workflow}/items/batch",
        models.ItemBatchPublic,
        json={"items": items},
        keyed=keyed and bool(items),
    )


def get_item(item_id: int) -> Call[models.ItemPublic]:
    return Call("GET", f"/api/v1/items/{item_id}", models.ItemPublic)


def list_items(
    *,
    workflow: str | None = None,
    state: str | None = None,
    cursor: int | None = None,
    limit: int = 50,
) -> Call[models.ItemList]:
    params = _drop_none({"workflow": workflow, "state": state, "cursor": cursor, "limit": limit})
    return Call("GET", "/api/v1/items", models.ItemList, params=params)


def wait_once(item_id: int, seconds: float) -> Call[models.ItemWaited]:
    """One long-poll request: the server answers when the item settles or `seconds` pass."""
    return Call(
        "GET",
        f"/api/v1/items/{item_id}/wait",
        models.ItemWaited,
        params={"timeout": seconds},
        timeout=seconds + WAIT_SLACK_SECONDS,
    )


class WaitLoop:
    """The long-poll loop of `wait`: the next request, until settled or the deadline."""

    def __init__(self, item_id: int, timeout: float, poll: float) -> None:
        self.item_id = item_id
        self.poll = max(0.0, poll)
        self.deadline = time.monotonic() + max(0.0, timeout)

    def next_call(self) -> Call[models.ItemWaited]:
        remaining = max(0.0, self.deadline - time.monotonic())
        return wait_once(self.item_id, min(self.poll, remaining))

    def done(self, answer: models.ItemWaited) -> bool:
        """Settled, or the deadline passed (the server's own cap ends a request early)."""
        return not answer.timed_out or time.monotonic() >= self.deadline


def cancel(item_id: int, reason: str | None = None) -> Call[models.ItemPublic]:
    return Call(
        "POST", f"/api/v1/items/{item_id}/cancel", models.ItemPublic, json={"reason": reason}
    )


def events(item_id: int) -> Call[models.ItemEventList]:
    return Call("GET", f"/api/v1/items/{item_id}/events", models.ItemEventList)


def claim(workflow: str | None = None) -> Call[models.TaskPublic]:
    return Call(
        "POST",
        "/api/v1/reviews/claim",
        models.TaskPublic,
        json={"workflow": workflow},
        empty_ok=True,
    )


def claim_task(task_id: int) -> Call[models.TaskPublic]:
    return Call("POST", f"/api/v1/tasks/{task_id}/claim", models.TaskPublic)


def get_task(task_id: int) -> Call[models.TaskPublic]:
    return Call("GET", f"/api/v1/tasks/{task_id}", models.TaskPublic)


def decide(
    task_id: int,
    outcome: str,
    *,
    label: str | None = None,
    labels: list[str] | None = None,
    entities: list[dict[str, Any]] | None = None,
    comment: str | None = None,
    time_on_task_ms: int | None = None,
    fields: dict[str, Any] | None = None,
) -> Call[models.TaskPublic]:
    body = _drop_none(
        {
            "outcome": outcome,
            "label": label,
            "labels": labels,
            "fields": fields,
            "entities": entities,
            "comment": comment,
            "time_on_task_ms": time_on_task_ms,
        }
    )
    return Call("POST", f"/api/v1/tasks/{task_id}/decision", models.TaskPublic, json=body)
