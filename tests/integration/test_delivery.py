"""Signed webhooks to a real receiver on 127.0.0.1 that verifies Standard Webhooks signatures."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from signoff.clock import FrozenClock
from signoff.domain.states import Role
from signoff.notify import webhook
from signoff.services import delivery, intake, processing, review, users
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.storage import audit, items, outbox
from tests import webhook_server
from tests.conftest import make_settings

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    verified: bool
    status: int
    payload: Any = None


@dataclass
class Receiver:
    """A webhook endpoint that checks every signature and answers scripted statuses."""

    secret: str
    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    url: str = ""

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            self.requests.append(Received(body, headers, False, 401))
            return 401
        status = self.statuses.pop(0) if self.statuses else 200
        self.requests.append(Received(body, headers, True, status, payload))
        return status


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(secret="")
    with webhook_server.serving(state.handle) as url:
        state.url = url
        yield state


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


def _context(db_url: str, clock: FrozenClock, **settings: Any) -> Context:
    return create_context(make_settings(db_url, **settings), clock=clock)


def _workflow(ctx: Context, url: str, name: str = "hooked") -> None:
    workflow_service.apply_workflow(
        ctx,
        f"""
name: {name}
labels: [invoice, contract, receipt, other]
ai: {{provider: fake, retries: 0}}
routing: {{threshold: 0.85}}
delivery: {{webhook_url: "{url}"}}
""",
        "test",
    )


def _auto_decided_item(ctx: Context, name: str = "hooked") -> int:
    item_id = intake.submit_item(
        ctx,
        name,
        intake.NewItem(content={"label": "invoice", "confidence": 0.95}, external_id="inv-7"),
        "test",
    ).item_id
    processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 10)
    return item_id


def _message(ctx: Context, item_id: int) -> Any:
    with ctx.sessions() as session:
        [row] = outbox.list_messages_for_item(session, item_id)
    return row


def _attempts(ctx: Context, message_id: int) -> list[Any]:
    with ctx.sessions() as session:
        return outbox.list_attempts(session, message_id)


def _events(ctx: Context, item_id: int) -> list[Any]:
    with ctx.sessions() as session:
        return audit.list_item_events(session, item_id)


@pytest.fixture
def ctx_hooked(db_url: str, clock: FrozenClock, receiver: Receiver) -> Iterator[Context]:
    ctx = _context(db_url, clock)
    receiver.secret = delivery.webhook_secret(ctx, None)
    _workflow(ctx, receiver.url)
    yield ctx
    ctx.close()


def test_decision_is_posted_signed_and_retried_with_backoff_until_accepted(
    ctx_hooked: Context, clock: FrozenClock, receiver: Receiver
) -> None:
    ctx = ctx_hooked
    receiver.statuses = [500, 500, 200]
    item_id = _auto_decided_item(ctx)
    message = _message(ctx, item_id)
    assert (message.kind, message.status, message.target) == ("webhook", "pending", receiver.url)

    # Attempt 1 fails; the retry waits base_backoff (5s) x jitter in [0.5, 1.5).
    assert delivery.send_due(ctx) == 1
    first = _message(ctx, item_id)
    assert (first.status, first.attempts, first.last_error) == ("pending", 1, "HTTP 500")
    delay = first.next_attempt_at - START
    assert timedelta(seconds=2.5) <= delay <= timedelta(seconds=7.5), delay
    assert delivery.send_due(ctx) == 0  # not due yet
    assert len(receiver.requests) == 1

    # Attempt 2 fails too; the backoff doubles.
    second_at = clock.advance(seconds=7.6)
    assert delivery.send_due(ctx) == 1
    second = _message(ctx, item_id)
    assert (second.status, second.attempts) == ("pending", 2)
    delay = second.next_attempt_at - second_at
    assert timedelta(seconds=5) <= delay <= timedelta(seconds=15), delay
    clock.advance(seconds=4.9)
    assert delivery.send_due(ctx) == 0

    # Attempt 3 is accepted.
    third_at = clock.advance(seconds=10.2)
    assert delivery.send_due(ctx) == 1
    sent = _message(ctx, item_id)
    assert (sent.status, sent.attempts, sent.sent_at, sent.last_error) == (
        "sent",
        3,
        third_at,
        None,
    )
    assert delivery.send_due(ctx) == 0

    attempts = _attempts(ctx, message.id)
    assert [a.status_code for a in attempts] == [500, 500, 200]
    assert [a.error for a in attempts] == ["HTTP 500", "HTTP 500", None]
    assert [a.attempted_at for a in attempts] == [START, second_at, third_at]

    # The receiver verified every attempt; retries reuse the message id.
    assert [r.status for r in receiver.requests] == [500, 500, 200]
    assert all(r.verified for r in receiver.requests)
    assert {r.headers["webhook-id"] for r in receiver.requests} == {message.message_id}
    payload = receiver.requests[-1].payload
    assert payload["type"] == "item.decided"
    assert payload["data"]["item_id"] == item_id
    assert payload["data"]["external_id"] == "inv-7"
    assert payload["data"]["workflow"] == "hooked"
    assert payload["data"]["outcome"] == "approved"
    assert payload["data"]["label"] == "invoice"
    assert payload["data"]["decided_by"] == "ai"
    assert payload["data"]["route"] == "auto"

    events = _events(ctx, item_id)
    delivered = [e for e in events if e.type == "delivered"]
    assert len(delivered) == 1
    assert delivered[0].data["attempts"] == 3
    assert delivered[0].data["status_code"] == 200
    assert delivered[0].data["message_id"] == message.message_id
    assert delivered[0].created_at == third_at
    assert [e.type for e in events].count("delivery_failed") == 0


def test_tampered_body_fails_verification_at_the_receiver(
    ctx_hooked: Context, receiver: Receiver
) -> None:
    _auto_decided_item(ctx_hooked)
    delivery.send_due(ctx_hooked)
    [genuine] = receiver.requests
    assert genuine.verified
    tampered = genuine.body.replace(b'"approved"', b'"rejected"')
    assert tampered != genuine.body
    with pytest.raises(WebhookVerificationError):
        Webhook(receiver.secret).verify(tampered, genuine.headers)
    response = httpx.post(receiver.url, content=tampered, headers=genuine.headers)
    assert response.status_code == 401
    assert receiver.requests[-1].verified is False
    other_id = {**genuine.headers, "webhook-id": "msg_other"}
    assert httpx.post(receiver.url, content=genuine.body, headers=other_id).status_code == 401
    assert (
        httpx.post(receiver.url, content=genuine.body, headers=genuine.headers).status_code == 200
    )


def test_configured_whsec_secret_signs_the_webhook(
    db_url: str, clock: FrozenClock, receiver: Receiver
) -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    ctx = _context(db_url, clock, delivery={"webhook_secret": secret})
    try:
        assert delivery.webhook_secret(ctx, None) == secret
        receiver.secret = secret
        _workflow(ctx, receiver.url)
        _auto_decided_item(ctx)
        assert delivery.send_due(ctx) == 1
        assert [(r.verified, r.status) for r in receiver.requests] == [(True, 200)]
        derived = webhook.derive_secret(ctx.settings.secret_key)
        with pytest.raises(WebhookVerificationError):
            Webhook(derived).verify(receiver.requests[0].body, receiver.requests[0].headers)
    finally:
        ctx.close()


def test_reviewer_decision_is_delivered_with_who_decided(
    ctx_hooked: Context, receiver: Receiver
) -> None:
    ctx = ctx_hooked
    item_id = intake.submit_item(
        ctx, "hooked", intake.NewItem(content={"label": "invoice", "confidence": 0.3}), "test"
    ).item_id
    processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 10)
    with ctx.sessions() as session:
        assert outbox.list_messages_for_item(session, item_id) == []
    user_id = users.add_user(ctx, "rev@example.com", Role.REVIEWER)
    principal = users.principal_for_user(ctx, user_id)
    assert principal is not None
    task = review.claim_next_task(ctx, principal)
    review.decide(
        ctx,
        principal,
        task.id,
        review.DecisionInput(outcome="rejected", label="other", comment="spam"),
    )
    assert delivery.send_due(ctx) == 1
    [request] = receiver.requests
    assert request.verified
    data = request.payload["data"]
    assert (data["outcome"], data["label"], data["decided_by"], data["override"]) == (
        "rejected",
        "other",
        "user:rev@example.com",
        True,
    )
    assert (data["ai_label"], data["comment"], data["route"]) == ("invoice", "spam", "human")
    assert "delivered" in [e.type for e in _events(ctx, item_id)]


def test_receiver_answering_410_stops_delivery_and_the_trail_says_so(
    ctx_hooked: Context, clock: FrozenClock, receiver: Receiver
) -> None:
    receiver.statuses = [410]
    item_id = _auto_decided_item(ctx_hooked)
    assert delivery.send_due(ctx_hooked) == 1
    message = _message(ctx_hooked, item_id)
    assert (message.status, message.attempts, message.last_error) == ("dead", 1, "HTTP 410")
    clock.advance(hours=2)
    assert delivery.send_due(ctx_hooked) == 0
    assert len(receiver.requests) == 1
    failed = [e for e in _events(ctx_hooked, item_id) if e.type == "delivery_failed"]
    assert len(failed) == 1
    assert failed[0].data["status_code"] == 410


def test_unreachable_receiver_is_retried_and_recorded_without_a_status(
    db_url: str, clock: FrozenClock
) -> None:
    ctx = _context(db_url, clock)
    try:
        _workflow(ctx, "http://127.0.0.1:9/hook", name="nowhere")
        item_id = _auto_decided_item(ctx, "nowhere")
        assert delivery.send_due(ctx) == 1
        message = _message(ctx, item_id)
        assert (message.status, message.attempts) == ("pending", 1)
        assert message.next_attempt_at > START
        [attempt] = _attempts(ctx, message.id)
        assert attempt.status_code is None
        assert attempt.error
        with ctx.sessions() as session:
            assert items.read_item(session, item_id).state == "approved"
    finally:
        ctx.close()


def test_every_signature_header_is_present_and_the_body_is_json(
    ctx_hooked: Context, receiver: Receiver
) -> None:
    _auto_decided_item(ctx_hooked)
    delivery.send_due(ctx_hooked)
    [request] = receiver.requests
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"].startswith("msg_")
    assert headers["webhook-signature"].startswith("v1,")
    assert abs(int(headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 60
    assert json.loads(request.body) == request.payload
