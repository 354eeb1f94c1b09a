"""How a workflow's reviews are run: assignment, SLA timers and escalation, notifications."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from signoff.domain.spec_base import MetadataRule, Name, Short, Strict, parse_duration

#: Shortest and longest SLA timer a workflow may set.
MIN_TIMER = timedelta(minutes=1)
MAX_TIMER = timedelta(days=366)


def parse_timer(text: str) -> timedelta:
    """A duration within the timer bounds (1m to 366d); ValueError says what is accepted."""
    value = parse_duration(text)
    if not MIN_TIMER <= value <= MAX_TIMER:
        raise ValueError(f"{text!r} is out of range: between 1m and 366d")
    return value


def _timer(value: str | None) -> str | None:
    if value is not None:
        parse_timer(value)
    return value


Timer = Annotated[str, Field(max_length=20, description="A duration such as 30m, 4h or 2d")]


class AssignmentStrategy(StrEnum):
    """Who gets a new review task."""

    PULL = "pull"  # nobody until a reviewer claims the next task
    ROUND_ROBIN = "round_robin"  # the group's members in turn
    LEAST_LOADED = "least_loaded"  # fewest open tasks, then longest idle
    SKILL = "skill"  # the first matching rule picks the group (and skill)


class SkillRule(Strict):
    """Items with this label (or metadata) go to `group`, to members with `skill` if set."""

    label: Short | None = None
    metadata: MetadataRule | None = None
    group: Name
    skill: Short | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> SkillRule:
        if (self.label is None) == (self.metadata is None):
            raise ValueError("a rule needs exactly one of label or metadata")
        return self


class AssignmentSpec(Strict):
    strategy: AssignmentStrategy = Field(
        default=AssignmentStrategy.PULL, description="pull, round_robin, least_loaded or skill"
    )
    group: Name | None = Field(
        default=None, description="The reviewer group tasks go to (the fallback for skill)"
    )
    max_open_per_reviewer: int | None = Field(
        default=None, ge=1, le=10_000, description="Most open tasks one reviewer holds"
    )
    rules: list[SkillRule] = Field(
        default_factory=list, max_length=50, description="skill: label/metadata → group"
    )
    claim_timeout: Timer | None = Field(
        default=None, description="An assigned task nobody touched this long returns to the pool"
    )

    _claim_timeout = field_validator("claim_timeout")(_timer)

    @model_validator(mode="after")
    def _strategy_has_people(self) -> AssignmentSpec:
        if self.strategy == AssignmentStrategy.SKILL and not self.rules:
            raise ValueError("strategy skill needs rules")
        grouped = (AssignmentStrategy.ROUND_ROBIN, AssignmentStrategy.LEAST_LOADED)
        if self.strategy in grouped and self.group is None:
            raise ValueError(f"strategy {self.strategy.value} needs a group")
        return self

    def groups(self) -> list[str]:
        """Every group this assignment names."""
        names = [self.group] if self.group else []
        return names + [r.group for r in self.rules if r.group not in names]


class TimeoutSpec(Strict):
    after: Timer = Field(description="Since the task was created")
    outcome: Short = Field(description="The default decision recorded on timeout")
    comment: str | None = Field(default=None, max_length=1000)

    _after = field_validator("after")(_timer)


class SlaSpec(Strict):
    """Timers from the task's creation: due, reminder, escalation, final default outcome."""

    due_in: Timer | None = Field(default=None, description="When the task is due")
    remind_after: Timer | None = Field(default=None, description="Remind the assignee")
    escalate_after: Timer | None = Field(default=None, description="Escalate to escalate_to")
    escalate_to: Name | None = Field(default=None, description="The lead group")
    reassign_on_escalation: bool = Field(
        default=False, description="Hand the task to the lead group instead of only notifying it"
    )
    on_timeout: TimeoutSpec | None = None

    _timers = field_validator("due_in", "remind_after", "escalate_after")(_timer)

    @model_validator(mode="after")
    def _ordered(self) -> SlaSpec:
        if self.escalate_after is not None and self.escalate_to is None:
            raise ValueError("escalate_after needs escalate_to (the group to escalate to)")
        if self.reassign_on_escalation and self.escalate_to is None:
            raise ValueError("reassign_on_escalation needs escalate_to")
        chain = [
            ("remind_after", self.remind_after),
            ("escalate_after", self.escalate_after),
            ("on_timeout.after", self.on_timeout.after if self.on_timeout else None),
        ]
        present = [(name, parse_timer(v)) for name, v in chain if v is not None]
        for (first, a), (second, b) in zip(present, present[1:], strict=False):
            if not a < b:
                raise ValueError(f"{first} must come before {second}")
        return self

    def timer(self, name: str) -> timedelta | None:
        """`due_in`, `remind_after`, `escalate_after` or `on_timeout` as a timedelta."""
        if name == "on_timeout":
            return parse_timer(self.on_timeout.after) if self.on_timeout else None
        value = getattr(self, name)
        return parse_timer(value) if value is not None else None


class NotifyEvent(StrEnum):
    """What a notification rule can be sent on."""

    TASK_CREATED = "task.created"
    TASK_ASSIGNED = "task.assigned"
    TASK_REMINDER = "task.reminder"
    TASK_ESCALATED = "task.escalated"
    TASK_TIMED_OUT = "task.timed_out"
    TASK_DECIDED = "task.decided"
    ITEM_DECIDED = "item.decided"


class NotifyChannel(StrEnum):
    EMAIL = "email"
    SLACK = "slack"
    TEAMS = "teams"
    PAGERDUTY = "pagerduty"
    WEBHOOK = "webhook"


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
#: `to` of an email rule: who the message goes to.
RECIPIENT_RULE = "assignee, escalate_to, group:NAME or an email address"


class NotifyRule(Strict):
    channel: NotifyChannel
    on: list[NotifyEvent] = Field(min_length=1, max_length=len(NotifyEvent))
    to: str | None = Field(default=None, max_length=320, description=f"email: {RECIPIENT_RULE}")
    webhook_url_env: str | None = Field(
        default=None, max_length=100, description="slack, teams: credential holding the URL"
    )
    routing_key_env: str | None = Field(
        default=None, max_length=100, description="pagerduty: credential holding the routing key"
    )
    url: str | None = Field(default=None, max_length=2048, description="webhook: the endpoint")
    secret_env: str | None = Field(
        default=None, max_length=100, description="webhook: credential holding the signing secret"
    )

    @field_validator("to")
    @classmethod
    def _recipient(cls, value: str | None) -> str | None:
        if value is None or value in ("assignee", "escalate_to") or _EMAIL.match(value):
            return value
        group = value.removeprefix("group:")
        if value.startswith("group:") and re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", group):
            return value
        raise ValueError(f"{value!r} is not a recipient: use {RECIPIENT_RULE}")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("url must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _channel_fields(self) -> NotifyRule:
        needed = {
            NotifyChannel.EMAIL: "to",
            NotifyChannel.SLACK: "webhook_url_env",
            NotifyChannel.TEAMS: "webhook_url_env",
            NotifyChannel.PAGERDUTY: "routing_key_env",
            NotifyChannel.WEBHOOK: "url",
        }[self.channel]
        if getattr(self, needed) is None:
            raise ValueError(f"channel {self.channel.value} needs {needed}")
        allowed = {needed, "secret_env"} if self.channel == NotifyChannel.WEBHOOK else {needed}
        extra = [
            name
            for name in ("to", "webhook_url_env", "routing_key_env", "url", "secret_env")
            if name not in allowed and getattr(self, name) is not None
        ]
        if extra:
            raise ValueError(f"channel {self.channel.value} does not take {', '.join(extra)}")
        return self

    def credentials(self) -> list[str]:
        """The credential names this rule reads at send time (checked at apply)."""
        names = (self.webhook_url_env, self.routing_key_env, self.secret_env)
        return [n for n in names if n is not None]
