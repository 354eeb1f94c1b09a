"""The email channel against a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

from typing import Any

import pytest

from signoff.notify import base as notify
from signoff.notify import email as email_channel
from signoff.settings import SmtpSettings
from tests import smtp_server


def _payload(**item: Any) -> dict[str, Any]:
    return {
        "type": "task.assigned",
        "occurred_at": "2026-12-02T13:00:00+00:00",
        "workflow": "invoices",
        "task": {
            "id": 7,
            "status": "assigned",
            "assignee": "rev@example.com",
            "group": None,
            "due_at": "2026-12-02T17:00:00+00:00",
            "created_at": "2026-12-02T13:00:00+00:00",
        },
        "item": {
            "id": 42,
            "external_id": "inv-1",
            "summary": "Invoice from ACME",
            "label": "invoice",
            "confidence": 0.61,
            "state": "in_review",
            "outcome": None,
            **item,
        },
        "url": "http://signoff.test/ui/items/42",
        "actions": {
            "approved": "http://signoff.test/ui/links/1.a.b?outcome=approved",
            "rejected": "http://signoff.test/ui/links/1.a.b?outcome=rejected",
        },
        "data": {"rule": 0},
    }


def _channel(inbox: smtp_server.Inbox, **smtp: Any) -> email_channel.EmailChannel:
    return email_channel.EmailChannel(
        SmtpSettings(host=inbox.host, port=inbox.port, from_address="signoff@example.com", **smtp)
    )


def _message(payload: dict[str, Any], to: str = "rev@example.com") -> notify.Message:
    return notify.Message(id="msg_1", kind="notify.email", target=to, payload=payload)


def test_assignee_receives_text_and_html_email_with_links() -> None:
    with smtp_server.receiving() as inbox:
        result = _channel(inbox).send(_message(_payload()))
        assert result.ok, result
        [received] = inbox.wait_for(1)
    assert received["To"] == "rev@example.com"
    assert received["From"] == "signoff@example.com"
    assert received["Subject"] == "[signoff] Assigned to you: invoices item 42"
    assert received["X-Signoff-Message-Id"] == "msg_1"
    text = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    assert "Invoice from ACME" in text and "invoice (confidence 0.61)" in text
    assert "Approved: http://signoff.test/ui/links/1.a.b?outcome=approved" in text
    assert 'href="http://signoff.test/ui/links/1.a.b?outcome=rejected"' in html
    assert 'href="http://signoff.test/ui/items/42"' in html


def test_item_text_is_escaped_in_html_and_cannot_inject_headers() -> None:
    hostile = _payload(
        summary="<script>alert(1)</script><a href='http://evil'>x</a>",
        external_id="x\r\nBcc: victim@example.com",
    )
    hostile["workflow"] = "invoices\r\nBcc: victim@example.com"
    with smtp_server.receiving() as inbox:
        assert _channel(inbox).send(_message(hostile)).ok
        [received] = inbox.wait_for(1)
    html = received.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "href='http://evil'" not in html
    assert received["Bcc"] is None
    assert inbox.envelopes == [("signoff@example.com", ["rev@example.com"])]


def test_digest_lists_every_entry_in_one_email() -> None:
    entries = [_payload(id=i, summary=f"doc {i}") for i in (1, 2, 3)]
    digest = {"type": "digest", "minutes": 30, "entries": entries}
    with smtp_server.receiving() as inbox:
        assert _channel(inbox).send(_message(digest)).ok
        [received] = inbox.wait_for(1)
    assert received["Subject"] == "[signoff] 3 review notifications"
    text = received.get_body(("plain",)).get_content()
    assert "from the last 30 minutes" in text
    assert all(f"doc {i}" in text for i in (1, 2, 3))


# The test server takes AUTH in the clear on 127.0.0.1; aiosmtpd warns about it.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_with_configured_user_and_password() -> None:
    with smtp_server.receiving(login=("mailer", "s3cret-pass")) as inbox:
        wrong = _channel(inbox, username="mailer", password="wrong").send(_message(_payload()))
        right = _channel(inbox, username="mailer", password="s3cret-pass").send(
            _message(_payload())
        )
        inbox.wait_for(1)
    assert not wrong.ok and wrong.status_code == 535
    assert right.ok
    # smtplib tries each mechanism the server offers before giving up on a wrong password.
    assert ("mailer", "wrong") in inbox.logins and inbox.logins[-1] == ("mailer", "s3cret-pass")
    assert len(inbox.messages) == 1


def test_permanent_refusal_is_final_and_temporary_one_is_retried() -> None:
    with smtp_server.receiving() as inbox:
        inbox.reply = "550 mailbox unavailable"
        permanent = _channel(inbox).send(_message(_payload()))
        inbox.reply = "451 try again later"
        temporary = _channel(inbox).send(_message(_payload()))
    assert not permanent.ok and permanent.status_code == 550 and not permanent.retryable
    assert not temporary.ok and temporary.status_code == 451 and temporary.retryable


def test_unreachable_server_is_retried() -> None:
    with smtp_server.receiving() as inbox:
        host, port = inbox.host, inbox.port
    channel = email_channel.EmailChannel(SmtpSettings(host=host, port=port, timeout_seconds=2))
    result = channel.send(_message(_payload()))
    assert not result.ok and result.retryable and result.error


def test_email_channel_is_registered_for_notify_email_outbox_rows() -> None:
    assert "notify.email" in notify.channel_kinds()
