"""The workflow definition: what a YAML/JSON workflow file may say, validated."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from signoff.domain import consensus as consensus_rules
from signoff.domain import errors, review_fields, review_ops, review_order, spec_base, yaml_source
from signoff.domain import patterns as user_patterns
from signoff.domain.spec_base import (
    MAX_ARCHIVE_AGE,
    MAX_COUNT,
    MAX_HOURS,
    MAX_LIST,
    MAX_TEXT,
    MIN_ARCHIVE_AGE,
    MetadataRule,
    Short,
    parse_duration,
)
from signoff.domain.spec_base import Strict as _Strict

#: The one rule for workflow names, used by the spec, the API's paths and the services.
NAME_PATTERN = spec_base.NAME_PATTERN
NAME_RULE = spec_base.NAME_RULE
_NAME = re.compile(NAME_PATTERN)


def is_workflow_name(text: str) -> bool:
    """Whether `text` follows the workflow-name rule (NAME_PATTERN)."""
    return _NAME.fullmatch(text) is not None


def check_workflow_name(name: str) -> None:
    """InvalidWorkflow (field `name`) unless `name` follows the workflow-name rule."""
    if not is_workflow_name(name):
        raise errors.InvalidWorkflow(
            f"name: {name!r} is not a workflow name: use {NAME_RULE}",
            field="name",
            problems=[{"field": "name", "message": f"use {NAME_RULE}"}],
        )


def parse_archive_age(text: str) -> timedelta:
    """A duration within the archive bounds (1m to 3650d)."""
    age = parse_duration(text)
    if not MIN_ARCHIVE_AGE <= age <= MAX_ARCHIVE_AGE:
        raise ValueError(f"{text!r} is out of range: between 1m and 3650d")
    return age


#: Retention bounds: shorter than an hour would purge items before anyone could export them.
MIN_RETENTION = timedelta(hours=1)
MAX_RETENTION = MAX_ARCHIVE_AGE


def parse_retention(text: str) -> timedelta:
    """A content retention period within its bounds (1h to 3650d)."""
    age = parse_duration(text)
    if not MIN_RETENTION <= age <= MAX_RETENTION:
        raise ValueError(f"{text!r} is out of range: between 1h and 3650d")
    return age


class EntityType(_Strict):
    """An entity type the AI step extracts; `patterns` drive the built-in extractor."""

    type: str = Field(min_length=1, max_length=64)
    patterns: list[Annotated[str, Field(max_length=user_patterns.MAX_PATTERN_CHARS)]] = Field(
        default_factory=list, max_length=50, description="Regular expressions (RE2 syntax)"
    )

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            user_patterns.compile_pattern(pattern)
        return value


class AiSpec(_Strict):
    provider: str = Field(
        default="builtin", max_length=100, description="Registered AI provider name"
    )
    options: dict[str, Any] = Field(default_factory=dict, max_length=MAX_LIST)
    retries: int = Field(default=3, ge=0, le=10, description="Retries after the first failure")
    backoff_seconds: float = Field(default=0.5, ge=0, le=60, description="First retry delay")
    retry_budget_seconds: float = Field(
        default=30.0,
        ge=0,
        le=600,
        description="Most time one item waits between retries in total, then goes to a person",
    )
    text_field: str | None = Field(
        default=None,
        max_length=100,
        description="Content field holding the text (default: text, body, ...)",
    )


class RoutingMode(StrEnum):
    """How a workflow's confidence threshold is set: by hand, learned, or none at all."""

    FIXED = "fixed"
    ERROR_BUDGET = "error_budget"
    ALWAYS_HUMAN = "always_human"


class RoutingSpec(_Strict):
    threshold: float | None = Field(default=None, ge=0, le=1)
    error_budget: float | None = Field(default=None, gt=0, lt=1)
    confidence_level: float = Field(default=0.95, gt=0.5, lt=1)
    min_reviewed: int = Field(
        default=30, ge=1, le=MAX_COUNT, description="Reviewed items needed first"
    )
    qa_sample_rate: float = Field(default=0.0, ge=0, le=1)
    always_review_labels: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    review_if_entities: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    metadata_rules: list[MetadataRule] = Field(default_factory=list, max_length=MAX_LIST)

    @model_validator(mode="after")
    def _one_mode(self) -> RoutingSpec:
        if self.threshold is not None and self.error_budget is not None:
            raise ValueError("set either threshold or error_budget, not both")
        return self

    @property
    def mode(self) -> RoutingMode:
        if self.error_budget is not None:
            return RoutingMode.ERROR_BUDGET
        if self.threshold is not None:
            return RoutingMode.FIXED
        return RoutingMode.ALWAYS_HUMAN


class ReviewSpec(_Strict):
    outcomes: list[Short] = Field(
        default_factory=lambda: ["approved", "rejected"], min_length=1, max_length=20
    )
    reject_outcomes: list[Short] = Field(
        default_factory=lambda: ["rejected"],
        max_length=20,
        description="Outcomes that end in state rejected",
    )
    auto_outcome: str = Field(
        default="approved", max_length=100, description="Outcome of an auto decision"
    )
    auto_outcomes: dict[Short, Short] = Field(
        default_factory=dict,
        max_length=MAX_LIST,
        description="Per-label outcome of an auto decision (label: outcome), else auto_outcome",
    )
    require_comment_on: list[Literal["override", "rejected", "always"]] = Field(
        default_factory=list, max_length=3
    )
    sla_hours: float | None = Field(
        default=None, gt=0, le=MAX_HOURS, description="Hours until due (older form of sla.due_in)"
    )
    instructions: str = Field(
        default="", max_length=MAX_TEXT, description="Markdown shown to reviewers on each item"
    )
    assignment: review_ops.AssignmentSpec = Field(default_factory=review_ops.AssignmentSpec)
    sla: review_ops.SlaSpec = Field(default_factory=review_ops.SlaSpec)
    links_require_sign_in: bool = Field(
        default=False,
        description="Reviewers with a password sign in before deciding from a message's link",
    )
    order: Literal["due", "uncertainty", "rarest_label"] = Field(
        default="due",
        description="Queue order: due, or uncertainty / rarest_label among tasks not at risk",
    )
    order_margin: str = Field(
        default="1h",
        max_length=20,
        description="A task due within this long is at risk and keeps due order (e.g. 1h)",
    )
    fields: list[review_fields.ReviewField] = Field(
        default_factory=list,
        max_length=review_fields.MAX_FIELDS,
        description="Typed inputs (text, number, choice, date) a reviewer fills in with a decision",
    )
    blind_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of human-routed items reviewed without the AI's suggestion",
    )
    gold_rate: float = Field(
        default=0.0,
        ge=0,
        le=0.5,
        description="Share of review tasks that are gold items (known answer) mixed into queues",
    )
    gold_floor: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="A reviewer whose gold accuracy's upper bound is below this is flagged",
    )
    consensus: consensus_rules.ConsensusSpec | None = Field(
        default=None,
        description="M-of-N review: distinct reviewers per item, decided when they agree",
    )

    @model_validator(mode="after")
    def _outcomes_known(self) -> ReviewSpec:
        if len(set(self.outcomes)) != len(self.outcomes):
            raise ValueError("outcomes must be unique")
        if self.auto_outcome not in self.outcomes:
            raise ValueError(f"auto_outcome {self.auto_outcome!r} is not one of outcomes")
        unknown_outcomes = sorted(set(self.auto_outcomes.values()) - set(self.outcomes))
        if unknown_outcomes:
            raise ValueError(f"auto_outcomes names outcomes not in outcomes: {unknown_outcomes}")
        timeout = self.sla.on_timeout
        if timeout is not None and timeout.outcome not in self.outcomes:
            raise ValueError(f"sla.on_timeout.outcome {timeout.outcome!r} is not one of outcomes")
        if self.sla_hours is not None and self.sla.due_in is not None:
            raise ValueError("set either sla_hours or sla.due_in, not both")
        review_fields.check_unique(self.fields)
        return self

    @field_validator("order_margin")
    @classmethod
    def _margin_bounded(cls, value: str) -> str:
        if not timedelta(0) <= parse_duration(value) <= timedelta(hours=MAX_HOURS):
            raise ValueError("must be between 0s and 366d")
        return value

    def queue_order(self) -> review_order.QueueOrder:
        """The queue order as the enum the ordering rules take."""
        return review_order.QueueOrder(self.order)

    def margin(self) -> timedelta:
        """How close to its due time a task is at risk (and keeps due order)."""
        return parse_duration(self.order_margin)

    def outcome_for(self, label: str | None) -> str:
        """The outcome an automatic decision of `label` records."""
        return self.auto_outcomes.get(label, self.auto_outcome) if label else self.auto_outcome

    def due_in(self) -> timedelta | None:
        """How long after creation a task is due (None: no due time)."""
        if self.sla_hours is not None:
            return timedelta(hours=self.sla_hours)
        return self.sla.timer("due_in")


class DeliverySpec(_Strict):
    webhook_url: str | None = Field(default=None, max_length=2048)
    secret_env: str | None = Field(
        default=None,
        max_length=100,
        description="Environment variable holding this workflow's signing secret",
    )

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("webhook_url must be an http(s) URL")
        return value


class TrainingSpec(_Strict):
    retrain_every: int = Field(
        default=50, ge=1, le=MAX_COUNT, description="Retrain after N new human labels"
    )
    retrain_growth: float = Field(
        default=0.1, ge=0, le=10, description="...and once labels grew by this fraction"
    )
    retrain_min_interval_seconds: float = Field(
        default=60.0,
        ge=0,
        le=30 * 86400,
        description="...and at least this long after the last model",
    )
    min_labels: int = Field(
        default=20, ge=2, le=MAX_COUNT, description="Labels needed before predicting"
    )


class WorkflowSpec(_Strict):
    name: str = Field(pattern=NAME_PATTERN, max_length=64)
    description: str = Field(default="", max_length=MAX_TEXT)
    labels: list[Short] = Field(min_length=1, max_length=MAX_LIST)
    labels_mode: Literal["single", "multi"] = Field(
        default="single", description="Whether a reviewer may pick several labels for one item"
    )
    entities: list[EntityType] = Field(default_factory=list, max_length=100)
    ai: AiSpec = Field(default_factory=AiSpec)
    routing: RoutingSpec = Field(default_factory=RoutingSpec)
    review: ReviewSpec = Field(default_factory=ReviewSpec)
    delivery: DeliverySpec = Field(default_factory=DeliverySpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    notify: list[review_ops.NotifyRule] = Field(
        default_factory=list, max_length=50, description="Who is told what, on which channel"
    )
    archive_after: str | None = Field(
        default=None,
        max_length=20,
        description="Archive decided items this long after the decision (e.g. 30d)",
    )

    retain_content_for: str | None = Field(
        default=None,
        max_length=20,
        description=(
            "Purge decided items' content and metadata this long after the decision "
            "(e.g. 90d); the content hash, decision and audit trail stay"
        ),
    )

    @field_validator("archive_after")
    @classmethod
    def _archive_after_bounded(cls, value: str | None) -> str | None:
        if value is not None:
            parse_archive_age(value)
        return value

    @field_validator("retain_content_for")
    @classmethod
    def _retention_bounded(cls, value: str | None) -> str | None:
        if value is not None:
            parse_retention(value)
        return value

    def retention(self) -> timedelta | None:
        """How long decided items keep their content (None: for ever)."""
        return parse_retention(self.retain_content_for) if self.retain_content_for else None

    def archive_age(self) -> timedelta | None:
        """How long decided items stay before the workers archive them (None: never)."""
        return parse_archive_age(self.archive_after) if self.archive_after else None

    @model_validator(mode="after")
    def _consistent(self) -> WorkflowSpec:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be unique")
        unknown = [lab for lab in self.routing.always_review_labels if lab not in self.labels]
        if unknown:
            raise ValueError(f"routing.always_review_labels has unknown labels: {unknown}")
        types = {e.type for e in self.entities}
        unknown_types = [t for t in self.routing.review_if_entities if t not in types]
        if unknown_types:
            raise ValueError(
                f"routing.review_if_entities has unknown entity types: {unknown_types}"
            )
        unknown_outcome_labels = sorted(set(self.review.auto_outcomes) - set(self.labels))
        if unknown_outcome_labels:
            raise ValueError(f"review.auto_outcomes has unknown labels: {unknown_outcome_labels}")
        unknown_rule_labels = [
            r.label
            for r in self.review.assignment.rules
            if r.label is not None and r.label not in self.labels
        ]
        if unknown_rule_labels:
            raise ValueError(f"review.assignment.rules has unknown labels: {unknown_rule_labels}")
        if self.review.sla.escalate_to is None and any(
            rule.to == "escalate_to" for rule in self.notify
        ):
            raise ValueError("notify: to escalate_to needs review.sla.escalate_to")
        return self

    def final_state_for(self, outcome: str) -> str:
        """The item state an outcome ends in: `rejected` or `approved`."""
        return "rejected" if outcome in self.review.reject_outcomes else "approved"


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(root)"


def parse_workflow(data: Any) -> WorkflowSpec:
    """Validate a workflow mapping; InvalidWorkflow names the offending field."""
    if not isinstance(data, dict):
        raise errors.InvalidWorkflow(
            "a workflow must be a mapping with name, labels, ...", field="(root)"
        )
    yaml_source.check_data(data)
    try:
        return WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        problems = [{"field": _field_path(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise errors.InvalidWorkflow(
            f"invalid workflow: {summary}", field=problems[0]["field"], problems=problems
        ) from None


def load_workflow_data(text: str) -> Any:
    """Parse YAML or JSON workflow text into plain data, within the source bounds."""
    return yaml_source.load_source(text)


def load_workflow_text(text: str) -> WorkflowSpec:
    """Parse and validate YAML or JSON workflow text."""
    return parse_workflow(load_workflow_data(text))


def dump_workflow(spec: WorkflowSpec) -> str:
    """Canonical JSON of a workflow, used to compare versions."""
    return json.dumps(spec.model_dump(mode="json"), sort_keys=True)
