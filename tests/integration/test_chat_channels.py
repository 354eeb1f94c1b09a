"""Slack, Teams, PagerDuty and task-event webhooks delivered from the outbox to real receivers.

Each receiver on 127.0.0.1 checks the body against the service's documented shape
(tests/channel_schemas.py) and answers 400 when it does not match, as the service
would. Credentials are names resolved at send time; every URL passes the SSRF guard.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from signoff.clock import FrozenClock
from signoff.domain import audit as audit_rules
from signoff.notify import base as notify
from signoff.services import delivery, intake, processing
from signoff.services import workflows as workflow_service
from signoff.services.context import create_context
from signoff.storage import engine, outbox, state
from signoff.storage import tables as t
from tests.channel_schemas import PAGERDUTY_EVENT, SLACK_MESSAGE, TEAMS_MESSAGE, problems
from tests.conftest import make_settings
from tests.unit.test_chat_payloads import KEY, event
from tests.webhook_server import serving

WORKFLOW = """
name: invoices
labels: [invoice, other]
ai: {provider: fake, retries: 0}
routing: {threshold: 0.9}
review: {outcomes: [approved, rejected]}
"""


@dataclass
class Receiver:
    """A local endpoint that records each body and refuses those off the service's shape."""

    schema: dict[str, Any] | None
    status: int = 200
    bodies: list[dict[str, Any]] = field(default_factory=list)
    raw: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    refused: list[list[str]] = field(default_factory=list)

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        data = json.loads(body)
        self.raw.append((body, headers))
        self.bodies.append(data)
        wrong = problems(self.schema, data) if self.schema is not None else []
        if wrong:
            self.refused.append(wrong)
            return 400
        return self.status


@pytest.fixture
def receivers() -> Iterator[dict[str, tuple[Receiver, str]]]:
    schemas = {
        "slack": SLACK_MESSAGE,
        "teams": TEAMS_MESSAGE,
        "pagerduty": PAGERDUTY_EVENT,
        "webhook": None,
    }
    with ExitStack() as stack:
        found = {}
        for name, schema in schemas.items():
            receiver = Receiver(schema, status=202 if name == "pagerduty" else 200)
            found[name] = (receiver, stack.enter_context(serving(receiver.handle)))
        yield found


@pytest.fixture
def channels() -> Iterator[Callable[[str, Any], Any]]:
    """Build channels through the registry; their connection pools are closed afterwards."""
    made: list[Any] = []

    def build(kind: str, settings: Any) -> Any:
        channel = notify.create_channel(kind, settings)
        assert channel is not None
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


def _message(kind: str, target: str | None, payload: dict[str, Any]) -> notify.Message:
    return notify.Message(id="msg_test", kind=kind, target=target, payload=payload)


def test_every_channel_delivers_from_the_outbox_in_its_services_shape(
    db_url: str, receivers: dict[str, tuple[Receiver, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNOFF_CREDENTIAL_SLACK_URL", receivers["slack"][1])
    monkeypatch.setenv("SIGNOFF_CREDENTIAL_TEAMS_URL", receivers["teams"][1])
    monkeypatch.setenv("SIGNOFF_CREDENTIAL_PD_KEY", KEY)
    settings = make_settings(db_url, pagerduty={"events_url": receivers["pagerduty"][1]})
    ctx = create_context(settings, clock=FrozenClock())
    try:
        view, _ = workflow_service.apply_workflow(ctx, WORKFLOW, "test")
        item_id = intake.submit_item(ctx, "invoices", intake.NewItem({"text": "x"}), "t").item_id
        messages = [
            state.OutboxMessage("notify.slack", event(), "SIGNOFF_CREDENTIAL_SLACK_URL", view.id),
            state.OutboxMessage("notify.teams", event(), "SIGNOFF_CREDENTIAL_TEAMS_URL", view.id),
            state.OutboxMessage("notify.pagerduty", event(), "SIGNOFF_CREDENTIAL_PD_KEY", view.id),
            state.OutboxMessage(
                "notify.pagerduty", event("task.decided"), "SIGNOFF_CREDENTIAL_PD_KEY", view.id
            ),
            state.OutboxMessage("notify.webhook", event(), receivers["webhook"][1], view.id),
        ]
        with engine.transaction(ctx.sessions) as session:
            kind = audit_rules.EventKind.ESCALATED
            assert state.append_item_event(
                session, item_id, kind, "test", {}, ctx.clock.now(), outbox=messages
            )
        assert delivery.send_due(ctx) == len(messages)
        with ctx.sessions() as session:
            rows = outbox.list_messages_for_item(session, item_id)
            attempts = session.execute(sa.select(sa.func.count()).select_from(t.delivery_attempts))
        assert [(r.kind, r.status, r.last_error) for r in rows] == [
            (m.kind, "sent", None) for m in messages
        ]
        assert attempts.scalar() == len(messages)

        slack_hook, teams_hook, pd, hook = (receivers[k][0] for k in receivers)
        for receiver in (slack_hook, teams_hook, pd):
            assert receiver.refused == []
        assert slack_hook.bodies[0]["blocks"][2]["elements"][0]["url"].endswith("/items/42")
        assert teams_hook.bodies[0]["attachments"][0]["content"]["type"] == "AdaptiveCard"
        assert [(b["event_action"], b["dedup_key"]) for b in pd.bodies] == [
            ("trigger", "signoff-task-7"),
            ("resolve", "signoff-task-7"),
        ]
        assert {b["routing_key"] for b in pd.bodies} == {KEY}
        ((body, headers),) = hook.raw
        secret = delivery.webhook_secret(ctx, view.id)
        verified = Webhook(secret).verify(body, headers)  # signed like decision webhooks
        assert verified["type"] == "task.escalated" and "actions" not in verified
        assert headers["webhook-id"] == rows[-1].message_id
    finally:
        ctx.close()


def test_a_task_webhook_rule_signs_with_its_own_secret(
    db_url: str, receivers: dict[str, tuple[Receiver, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver, url = receivers["webhook"]
    monkeypatch.setenv("SIGNOFF_CREDENTIAL_HOOK_SECRET", "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQ=")
    ctx = create_context(make_settings(db_url), clock=FrozenClock())
    try:
        source = WORKFLOW + (
            "notify:\n"
            f'  - {{channel: webhook, url: "{url}", secret_env: SIGNOFF_CREDENTIAL_HOOK_SECRET,'
            " on: [task.created]}\n"
        )
        view, _ = workflow_service.apply_workflow(ctx, source, "test")
        item_id = intake.submit_item(ctx, "invoices", intake.NewItem({"text": "x"}), "t").item_id
        message = state.OutboxMessage("notify.webhook", event("task.created"), url, view.id)
        with engine.transaction(ctx.sessions) as session:
            kind = audit_rules.EventKind.ASSIGNED
            state.append_item_event(session, item_id, kind, "t", {}, ctx.clock.now(), [message])
        assert delivery.send_due(ctx) == 1
        ((body, headers),) = receiver.raw
        Webhook("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=").verify(body, headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(delivery.webhook_secret(ctx, None)).verify(body, headers)
    finally:
        ctx.close()


def test_a_task_created_webhook_from_the_review_path_is_signed_with_the_rules_secret(
    db_url: str, receivers: dict[str, tuple[Receiver, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver, url = receivers["webhook"]
    secret = "whsec_" + "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA=="
    monkeypatch.setenv("SIGNOFF_CREDENTIAL_HOOK_SECRET", secret)
    ctx = create_context(make_settings(db_url), clock=FrozenClock())
    try:
        source = WORKFLOW + (
            "notify:\n"
            f'  - {{channel: webhook, url: "{url}", secret_env: SIGNOFF_CREDENTIAL_HOOK_SECRET,'
            " on: [task.created]}\n"
        )
        workflow_service.apply_workflow(ctx, source, "test")
        content = {"text": "Invoice 7", "label": "invoice", "confidence": 0.4}
        item_id = intake.submit_item(ctx, "invoices", intake.NewItem(content), "t").item_id
        processing.process_batch(ctx, "t", processing.ProviderCache(ctx), 10)
        assert delivery.send_due(ctx) == 1
        ((body, headers),) = receiver.raw
        delivered = Webhook(secret).verify(body, headers)
        assert delivered["type"] == "task.created" and delivered["item"]["id"] == item_id
        assert "secret_env" not in delivered["data"] and "actions" not in delivered
    finally:
        ctx.close()


@pytest.mark.parametrize("kind", ["notify.slack", "notify.teams"])
def test_a_chat_webhook_on_a_private_address_is_refused_without_a_request(
    tmp_path: Any,
    kind: str,
    receivers: dict[str, tuple[Receiver, str]],
    monkeypatch: Any,
    channels: Callable[[str, Any], Any],
) -> None:
    receiver, url = receivers["slack"]
    monkeypatch.setenv("SIGNOFF_CREDENTIAL_CHAT_URL", url)
    settings = make_settings(f"sqlite:///{tmp_path}/x.db", outbound={"allow": ""})
    channel = channels(kind, settings)
    result = channel.send(_message(kind, "SIGNOFF_CREDENTIAL_CHAT_URL", event()))
    assert not result.ok and not result.retryable
    assert "127.0.0.1" in (result.error or "") and receiver.bodies == []


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("HOME", "not a credential workflows may use"),
        ("SIGNOFF_SECRET_KEY", "signoff setting"),
        ("SLACK_HOOK", "may only be sent to hooks.slack.com"),
    ],
)
def test_a_credential_a_workflow_may_not_read_is_never_sent(
    tmp_path: Any,
    target: str,
    says: str,
    receivers: dict[str, tuple[Receiver, str]],
    monkeypatch: pytest.MonkeyPatch,
    channels: Callable[[str, Any], Any],
) -> None:
    receiver, url = receivers["slack"]
    for name in ("HOME", "SIGNOFF_SECRET_KEY", "SLACK_HOOK"):
        monkeypatch.setenv(name, url)
    settings = make_settings(
        f"sqlite:///{tmp_path}/x.db",
        outbound={"allow": "127.0.0.1", "credentials": "SLACK_HOOK@hooks.slack.com"},
    )
    channel = channels("notify.slack", settings)
    result = channel.send(_message("notify.slack", target, event()))
    assert not result.ok and not result.retryable and says in (result.error or "")
    assert receiver.bodies == []


def test_pagerduty_refusals_are_final_and_throttling_is_retried(
    tmp_path: Any,
    receivers: dict[str, tuple[Receiver, str]],
    monkeypatch: pytest.MonkeyPatch,
    channels: Callable[[str, Any], Any],
) -> None:
    receiver, url = receivers["pagerduty"]
    monkeypatch.setenv("SIGNOFF_CREDENTIAL_PD_KEY", KEY)
    settings = make_settings(f"sqlite:///{tmp_path}/x.db", pagerduty={"events_url": url})
    channel = channels("notify.pagerduty", settings)
    message = _message("notify.pagerduty", "SIGNOFF_CREDENTIAL_PD_KEY", event())
    receiver.status = 429
    throttled = channel.send(message)
    assert (throttled.ok, throttled.retryable, throttled.status_code) == (False, True, 429)
    short = _message("notify.pagerduty", "SIGNOFF_CREDENTIAL_SHORT", event())
    monkeypatch.setenv("SIGNOFF_CREDENTIAL_SHORT", "too-short")
    refused = channel.send(short)  # the receiver answers 400, as PagerDuty does
    assert (refused.ok, refused.retryable, refused.status_code) == (False, False, 400)
    unset = channel.send(_message("notify.pagerduty", "SIGNOFF_CREDENTIAL_UNSET", event()))
    assert not unset.ok and unset.retryable and "not set" in (unset.error or "")
    assert [b["routing_key"] for b in receiver.bodies] == [KEY, "too-short"]
