"""The review-operations part of a workflow: the issue's example is accepted as written,
and every mistake names its field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from signoff.domain import errors
from signoff.domain.workflow import load_workflow_text

ISSUE_EXAMPLE = """
name: payables
labels: [invoice, other]
review:
  outcomes: [approved, rejected]
  instructions: "Check the IBAN against the supplier record."   # markdown, shown to reviewers
  assignment: {strategy: least_loaded, group: clerks, max_open_per_reviewer: 20}
  sla: {due_in: 4h, remind_after: 1h, escalate_after: 8h, escalate_to: leads,
        on_timeout: {after: 24h, outcome: rejected, comment: "no decision in 24 h"}}
notify:
  - {channel: email, to: assignee, on: [task.assigned, task.reminder]}
  - {channel: slack, webhook_url_env: SLACK_WEBHOOK_URL, on: [task.escalated, task.timed_out]}
  - {channel: teams, webhook_url_env: TEAMS_WEBHOOK_URL, on: [task.escalated]}
  - {channel: pagerduty, routing_key_env: PAGERDUTY_ROUTING_KEY, on: [task.timed_out]}
  - {channel: webhook, url: "https://app.example.com/signoff-events", on: [task.created, item.decided]}
"""


def test_the_documented_review_operations_example_is_accepted_as_written() -> None:
    spec = load_workflow_text(ISSUE_EXAMPLE)
    assert spec.review.due_in() == timedelta(hours=4)
    assert spec.review.sla.timer("on_timeout") == timedelta(hours=24)
    assert spec.review.assignment.groups() == ["clerks"]
    # `on:` is a key under YAML 1.2 rules, not the boolean True of YAML 1.1.
    assert [rule.on[0].value for rule in spec.notify] == [
        "task.assigned",
        "task.escalated",
        "task.escalated",
        "task.timed_out",
        "task.created",
    ]
    assert spec.notify[1].credentials() == ["SLACK_WEBHOOK_URL"]


def _refused(text: str) -> errors.InvalidWorkflow:
    with pytest.raises(errors.InvalidWorkflow) as caught:
        load_workflow_text(text)
    return caught.value


@pytest.mark.parametrize(
    ("section", "field", "words"),
    [
        ("review: {sla: {due_in: 400d}}", "review.sla.due_in", "between 1m and 366d"),
        ("review: {sla: {due_in: soon}}", "review.sla.due_in", "not a duration"),
        (
            "review: {sla: {remind_after: 9h, escalate_after: 8h, escalate_to: leads}}",
            "review.sla",
            "remind_after must come before escalate_after",
        ),
        ("review: {sla: {escalate_after: 8h}}", "review.sla", "needs escalate_to"),
        (
            "review: {sla: {on_timeout: {after: 1h, outcome: shrug}}}",
            "review",
            "'shrug' is not one of outcomes",
        ),
        ("review: {assignment: {strategy: round_robin}}", "review.assignment", "needs a group"),
        ("review: {assignment: {strategy: skill}}", "review.assignment", "needs rules"),
        (
            "review: {assignment: {strategy: skill, rules: [{group: x}]}}",
            "review.assignment.rules.0",
            "exactly one of label or metadata",
        ),
        (
            "review: {assignment: {max_open_per_reviewer: 0}}",
            "review.assignment.max_open_per_reviewer",
            "",
        ),
        ("review: {assignment: {group: Not A Name}}", "review.assignment.group", ""),
        ("notify: [{channel: email, on: [task.assigned]}]", "notify.0", "needs to"),
        (
            "notify: [{channel: email, to: everyone, on: [task.assigned]}]",
            "notify.0.to",
            "not a recipient",
        ),
        ("notify: [{channel: slack, on: [task.created]}]", "notify.0", "needs webhook_url_env"),
        (
            "notify: [{channel: slack, webhook_url_env: S, url: 'https://x.test', on: [task.created]}]",
            "notify.0",
            "does not take url",
        ),
        ("notify: [{channel: pager, on: [task.created]}]", "notify.0.channel", ""),
        (
            "notify: [{channel: webhook, url: 'https://x.test', on: [task.lost]}]",
            "notify.0.on.0",
            "",
        ),
        (
            "notify: [{channel: webhook, url: 'ftp://x', on: [task.created]}]",
            "notify.0.url",
            "http(s)",
        ),
        (
            "notify: [{channel: email, to: escalate_to, on: [task.escalated]}]",
            "(root)",
            "needs review.sla.escalate_to",
        ),
        ("review: {auto_outcomes: {spam: approved}}", "(root)", "unknown labels"),
        ("review: {auto_outcomes: {invoice: maybe}}", "review", "not in outcomes"),
        ("review: {sla_hours: 4, sla: {due_in: 4h}}", "review", "either sla_hours or sla.due_in"),
    ],
)
def test_a_review_operations_mistake_names_its_field(section: str, field: str, words: str) -> None:
    error = _refused(f"name: payables\nlabels: [invoice, other]\n{section}\n")
    assert error.context["field"] == field, str(error)
    assert words in str(error)
