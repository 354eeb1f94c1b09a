"""Slack, Teams and PagerDuty bodies built from review-event payloads match the services' shapes."""

from __future__ import annotations

from typing import Any

from signoff.notify import pagerduty, slack, task_webhook, teams
from tests.channel_schemas import PAGERDUTY_EVENT, SLACK_MESSAGE, TEAMS_MESSAGE, problems

KEY = "R0UTINGKEY0123456789abcdefghijkl"
HOSTILE = "<!channel> pay now [here](https://evil.example) *urgent* & <https://x|y>"


def event(kind: str = "task.escalated", **item: Any) -> dict[str, Any]:
    """A payload of the shape services.notifications documents."""
    return {
        "type": kind,
        "occurred_at": "2026-12-02T13:00:00+00:00",
        "workflow": "invoices",
        "task": {
            "id": 7,
            "status": "open",
            "assignee": None,
            "group": "leads",
            "due_at": "2026-12-02T17:00:00+00:00",
            "created_at": "2026-12-02T09:00:00+00:00",
        },
        "item": {
            "id": 42,
            "external_id": "inv-42",
            "summary": "Invoice 2026-118 from ACME, IBAN DE89 3704 0044 0532 0130 00",
            "label": "invoice",
            "confidence": 0.71,
            "state": "in_review",
            "outcome": None,
            **item,
        },
        "url": "http://127.0.0.1:8000/items/42",
        "actions": {
            "approved": "http://127.0.0.1:8000/links/a.b.c",
            "rejected": "http://127.0.0.1:8000/links/d.e.f",
        },
        "data": {"rule": "sla.escalate_after"},
    }


def test_slack_message_is_valid_block_kit_with_summary_context_and_buttons() -> None:
    body = slack.blocks(event())
    assert problems(SLACK_MESSAGE, body) == []
    section, context, actions = body["blocks"]
    assert section["text"]["text"].startswith("*Review escalated · invoices*\nInvoice 2026-118")
    assert "Item 42 (inv-42)" in context["elements"][0]["text"]
    assert "AI label: invoice (0.71)" in context["elements"][0]["text"]
    buttons = [(b["text"]["text"], b["url"]) for b in actions["elements"]]
    assert buttons == [
        ("Open item", "http://127.0.0.1:8000/items/42"),
        ("Approved", "http://127.0.0.1:8000/links/a.b.c"),
        ("Rejected", "http://127.0.0.1:8000/links/d.e.f"),
    ]
    assert "Review escalated" in body["text"]


def test_slack_escapes_item_text_so_it_cannot_mention_or_link() -> None:
    body = slack.blocks(event(summary=HOSTILE))
    text = body["blocks"][0]["text"]["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "<https://x|y>" not in text and "&amp;" in text
    assert "<" not in body["text"]


def test_slack_keeps_block_kit_limits_for_huge_text_and_many_actions() -> None:
    payload = event(summary="x" * 10_000, label="l" * 3000)
    payload["actions"] = {f"outcome_{i}": f"http://127.0.0.1/l/{i}" for i in range(40)}
    payload["actions"]["long"] = "http://127.0.0.1/" + "y" * 4000
    body = slack.blocks(payload)
    assert problems(SLACK_MESSAGE, body) == []
    assert len(body["blocks"][0]["text"]["text"]) == slack.SECTION_TEXT
    assert len(body["blocks"][2]["elements"]) == 25


def test_slack_message_without_links_has_no_empty_actions_block() -> None:
    payload = event()
    del payload["url"], payload["actions"]
    body = slack.blocks(payload)
    assert problems(SLACK_MESSAGE, body) == []
    assert [b["type"] for b in body["blocks"]] == ["section", "context"]


def test_teams_message_is_an_adaptive_card_in_the_workflows_envelope() -> None:
    body = teams.card(event())
    assert problems(TEAMS_MESSAGE, body) == []
    card = body["attachments"][0]["content"]
    assert card["version"] == "1.4"
    assert card["body"][0]["text"] == "Review escalated · invoices"
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Group"] == "leads" and facts["AI label"] == "invoice \\(0\\.71\\)"
    assert [a["title"] for a in card["actions"]] == ["Open item", "Approved", "Rejected"]


def test_teams_escapes_markdown_in_item_text() -> None:
    card = teams.card(event(summary=HOSTILE))["attachments"][0]["content"]
    text = card["body"][1]["text"]
    assert "[here](https" not in text and "\\[here\\]\\(https" in text


def test_pagerduty_triggers_on_escalation_and_timeout_with_one_dedup_key_per_task() -> None:
    escalated = pagerduty.event(event("task.escalated"), KEY)
    timed_out = pagerduty.event(event("task.timed_out"), KEY)
    assert escalated is not None and timed_out is not None
    for body in (escalated, timed_out):
        assert problems(PAGERDUTY_EVENT, body) == []
        assert body["event_action"] == "trigger" and body["dedup_key"] == "signoff-task-7"
        assert body["payload"]["source"] == "signoff/invoices"
    assert (escalated["payload"]["severity"], timed_out["payload"]["severity"]) == (
        "warning",
        "error",
    )
    assert escalated["links"] == [
        {"href": "http://127.0.0.1:8000/items/42", "text": "Item 42 (inv-42)"}
    ]
    long = pagerduty.event(event(summary="z" * 5000), KEY)
    assert long is not None and len(long["payload"]["summary"]) == 1024


def test_pagerduty_resolves_the_tasks_alert_when_it_is_decided() -> None:
    body = pagerduty.event(event("task.decided", outcome="rejected"), KEY)
    assert body == {"routing_key": KEY, "event_action": "resolve", "dedup_key": "signoff-task-7"}
    assert problems(PAGERDUTY_EVENT, body) == []


def test_task_webhook_body_leaves_out_the_action_links() -> None:
    assert "actions" not in task_webhook.body(
        event()
    ) and '"type":"task.escalated"' in task_webhook.body(event())


def test_the_schemas_refuse_what_the_services_refuse() -> None:
    too_long = {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]}
    unknown = {"blocks": [{"type": "sections", "text": {"type": "mrkdwn", "text": "x"}}]}
    assert problems(SLACK_MESSAGE, too_long) and problems(SLACK_MESSAGE, unknown)
    card = teams.card(event())
    card["attachments"][0]["content"]["version"] = "1.2"
    assert problems(TEAMS_MESSAGE, card)
    assert problems(PAGERDUTY_EVENT, {"routing_key": KEY, "event_action": "trigger"})
    assert problems(PAGERDUTY_EVENT, {"routing_key": KEY, "event_action": "resolve"})


def test_task_webhook_body_leaves_out_the_secrets_name() -> None:
    payload = event()
    payload["data"] = {"rule": 0, "secret_env": "SIGNOFF_CREDENTIAL_HOOK"}
    assert "SIGNOFF_CREDENTIAL_HOOK" not in task_webhook.body(payload)
