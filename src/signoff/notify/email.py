"""Email over SMTP: one message per outbox row (an event, or a user's digest of events).

Each email has a plain-text body and an HTML alternative rendered with Jinja's
autoescape, so an item's text cannot inject markup. The SMTP server, TLS mode and
login come from the `smtp` settings (the operator's, never a workflow's).
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import jinja2

from signoff.notify.base import ChannelContext, Message, SendResult

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

SUBJECTS = {
    "task.created": "New review task",
    "task.assigned": "Assigned to you",
    "task.reminder": "Reminder: waiting for your review",
    "task.escalated": "Escalated",
    "task.timed_out": "Timed out",
    "task.decided": "Decided",
    "item.decided": "Decided",
}


def _one_line(text: str, limit: int = 150) -> str:
    """Header-safe text: control characters (CR/LF above all) become spaces."""
    return _CONTROL.sub(" ", text).strip()[:limit]


def subject_for(payload: dict[str, Any]) -> str:
    if payload.get("type") == "digest":
        count = len(payload.get("entries") or [])
        return f"[signoff] {count} review notification{'s' if count != 1 else ''}"
    item = payload.get("item") or {}
    what = SUBJECTS.get(str(payload.get("type")), "Review update")
    outcome = item.get("outcome")
    if payload.get("type") in ("task.decided", "item.decided") and outcome:
        what = f"{what} ({outcome})"
    return _one_line(f"[signoff] {what}: {payload.get('workflow')} item {item.get('id')}")


def build_email(sender: str, message: Message) -> EmailMessage:
    """The email for one outbox message: text body, HTML alternative, safe headers."""
    payload = message.payload
    digest = payload.get("type") == "digest"
    entries = list(payload.get("entries") or []) if digest else [payload]
    values = {
        "digest": digest,
        "entries": entries,
        "titles": SUBJECTS,
        "minutes": payload.get("minutes"),
    }
    email = EmailMessage()
    email["Subject"] = subject_for(payload)
    email["From"] = sender
    email["To"] = _one_line(message.target or "", 320)
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(idstring=message.id, domain=sender.rpartition("@")[2] or None)
    email["Auto-Submitted"] = "auto-generated"
    email["X-Signoff-Message-Id"] = message.id
    email.set_content(_TEMPLATES.get_template("email.txt").render(values))
    email.add_alternative(_TEMPLATES.get_template("email.html").render(values), subtype="html")
    return email


class EmailChannel:
    """Sends each message over one SMTP conversation (STARTTLS, TLS and login as configured)."""

    def __init__(self, smtp: Any) -> None:
        self.smtp = smtp

    def _connect(self) -> smtplib.SMTP:
        smtp = self.smtp
        if smtp.tls:
            return smtplib.SMTP_SSL(
                smtp.host,
                smtp.port,
                timeout=smtp.timeout_seconds,
                context=ssl.create_default_context(),
            )
        return smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)

    def send(self, message: Message) -> SendResult:
        if not message.target:
            return SendResult(False, error="no recipient address", retryable=False)
        try:
            email = build_email(self.smtp.from_address, message)
        except (ValueError, TypeError, jinja2.TemplateError) as exc:
            return SendResult(False, error=f"unusable message: {exc}"[:500], retryable=False)
        try:
            with self._connect() as connection:
                if self.smtp.starttls:
                    connection.starttls(context=ssl.create_default_context())
                if self.smtp.username:
                    connection.login(self.smtp.username, self.smtp.password or "")
                connection.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            permanent = all(code >= 500 for code in codes)
            return SendResult(False, error=f"recipient refused: {codes}", retryable=not permanent)
        except smtplib.SMTPResponseException as exc:
            # 5xx is the server's final word on this message; 4xx (busy, greylisting) is not.
            return SendResult(
                False,
                status_code=exc.smtp_code,
                error=f"SMTP {exc.smtp_code}",
                retryable=exc.smtp_code < 500 or isinstance(exc, smtplib.SMTPAuthenticationError),
            )
        except (smtplib.SMTPException, OSError) as exc:
            return SendResult(False, error=f"{type(exc).__name__}: {exc}"[:500])
        return SendResult(True, status_code=250)


def create(context: ChannelContext) -> EmailChannel:
    """The email channel for the `smtp` settings of `context.settings`."""
    return EmailChannel(context.settings.smtp)
