"""Request and response bodies, and the bounds of path and query parameters."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from signoff.domain import workflow as wf

#: Ids are 64-bit signed integers in every supported database.
MAX_ID = 2**63 - 1
#: Text PostgreSQL can store holds no NUL character; refusing it everywhere keeps both
#: databases answering alike.
TEXT = r"^[^\x00]*$"

Text = Annotated[str, Field(pattern=TEXT)]
WorkflowPath = Annotated[str, Path(pattern=wf.NAME_PATTERN, description="A workflow name")]
WorkflowQuery = Annotated[
    str | None, Query(pattern=wf.NAME_PATTERN, description="Only this workflow")
]

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="A positive 64-bit id")]
CursorQuery = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="`next_cursor` of the previous page"),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemCreate(_Body):
    content: dict[str, Any] = Field(description="The document or record to classify")
    external_id: Text | None = Field(default=None, max_length=255)
    metadata: dict[str, Any] | None = None
    idempotency_key: Text | None = Field(default=None, min_length=1, max_length=255)


class ItemBatchCreate(_Body):
    items: list[ItemCreate] = Field(min_length=1)


class ItemCancel(_Body):
    reason: Text | None = Field(default=None, max_length=2000)


class ClaimRequest(_Body):
    workflow: str | None = Field(default=None, pattern=wf.NAME_PATTERN)


class TaskAssign(_Body):
    assignee: Text | None = Field(
        max_length=255, description="The reviewer's email; null returns the task to the pool"
    )


#: A member's skill: what `signoff groups add --skill` and `review.assignment.rules` name.
SKILL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$"
#: A group's name, as workflows name it.
GROUP_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
GroupPath = Annotated[str, Path(pattern=GROUP_PATTERN, description="A reviewer group name")]


class GroupMembersAdd(_Body):
    members: list[Annotated[str, Field(max_length=255, pattern=TEXT)]] = Field(
        default_factory=list, max_length=500, description="Members' emails (existing users)"
    )
    skills: dict[
        Annotated[str, Field(max_length=255, pattern=TEXT)],
        list[Annotated[str, Field(pattern=SKILL_PATTERN)]],
    ] = Field(default_factory=dict, max_length=500, description="email → skills (replaces)")
    description: Text | None = Field(default=None, max_length=2000)


class DecisionCreate(_Body):
    outcome: Text = Field(min_length=1, max_length=64)
    labels: list[Text] | None = Field(
        default=None,
        max_length=200,
        description="The labels chosen; more than one only with `labels_mode: multi`",
    )
    label: Text | None = None
    entities: list[dict[str, Any]] | None = None
    fields: dict[str, Any] | None = Field(
        default=None,
        max_length=50,
        description="Values of the workflow's `review.fields` by name (text, number, choice, "
        "date as YYYY-MM-DD); refused with 422 naming `fields.<name>` when invalid",
    )
    comment: Text | None = Field(default=None, max_length=10_000)
    time_on_task_ms: int | None = Field(default=None, ge=0, le=2**31 - 1)


# --- responses ------------------------------------------------------------------------
#
# Timestamps are ISO 8601 strings exactly as the database returned them.


class ErrorPublic(BaseModel):
    """Every error answer: a stable code, a sentence for people, and where it went wrong."""

    error: str = Field(description="Stable machine-readable code, e.g. `item_not_found`")
    detail: str = Field(description="What went wrong, for people")
    field: str | None = Field(default=None, description="The input at fault, e.g. `content`")
    problems: list[dict[str, Any]] | None = Field(
        default=None, description="Every problem found, each with `field` and `message`"
    )
    item_id: int | None = None
    task_id: int | None = None
    line: int | None = None
    paused: dict[str, Any] | None = Field(
        default=None,
        description="For `workflow_paused`: the workflow, mode, reason, who paused it and when",
    )
    retry_after: float | None = Field(
        default=None, description="For `rate_limited` and `quota_exceeded`: seconds to wait"
    )


class PredictionPublic(BaseModel):
    label: str | None
    confidence: float | None
    entities: list[dict[str, Any]]
    model: str | None
    model_version: str | None
    scores: dict[str, float]
    confidence_method: str | None
    error: str | None
    explanation: dict[str, Any] | None = Field(
        default=None,
        description="Why the model said so: `terms` (the built-in model's top contributing "
        "terms with their weights) and/or `rationale` (an LLM's words); never the confidence",
    )


class RoutePublic(BaseModel):
    route: str = Field(description="`auto` or `human`")
    reasons: list[str]
    threshold: float | None


class DecisionPublic(BaseModel):
    outcome: str | None
    labels: list[str]
    label: str | None
    entities: list[dict[str, Any]]
    decided_by: str | None
    comment: str | None
    decided_at: str
    override: bool | None
    fields: dict[str, Any] = Field(
        default_factory=dict, description="The values of the workflow's review fields"
    )


class ItemPublic(BaseModel):
    id: int
    workflow: str
    workflow_version: int
    external_id: str | None
    state: str
    content: dict[str, Any]
    metadata: dict[str, Any] | None
    created_at: str
    updated_at: str
    prediction: PredictionPublic | None
    route: RoutePublic | None
    decision: DecisionPublic | None


class ItemWaited(ItemPublic):
    timed_out: bool = Field(description="True when the wait ended before the item settled")


class ItemList(BaseModel):
    items: list[ItemPublic]
    next_cursor: int | None = Field(description="Pass as `cursor` for the next page")


class ItemSubmitted(BaseModel):
    id: int
    created: bool = Field(description="False when an Idempotency-Key matched an earlier item")
    state: str | None


class ItemBatchPublic(BaseModel):
    items: list[ItemSubmitted]


class EventPublic(BaseModel):
    id: int
    seq: int
    type: str
    actor: str | None
    data: dict[str, Any] | None
    created_at: str
    hash: str
    prev_hash: str | None


class TaskSummary(BaseModel):
    id: int
    status: str
    assignee_id: int | None
    due_at: str | None


class ItemEventList(BaseModel):
    item_id: int
    verified: bool = Field(description="Whether the item's hash chain verifies")
    problems: list[str]
    events: list[EventPublic]
    tasks: list[TaskSummary]


class TaskPublic(BaseModel):
    id: int
    item_id: int
    status: str
    assignee_id: int | None
    due_at: str | None
    outcome: str | None
    comment: str | None
    decided_at: str | None
    group: str | None = None
    hold_expires_at: str | None = None
    #: Consensus: `vote` or `tiebreak` (null: the item's only task).
    kind: str | None = None
    item: ItemPublic | None = None


class GroupMemberPublic(BaseModel):
    email: str
    skills: list[str]


class GroupPublic(BaseModel):
    name: str
    description: str | None
    members: list[GroupMemberPublic]


class GroupList(BaseModel):
    groups: list[GroupPublic]


class PausePublic(BaseModel):
    mode: Literal["refuse", "all_to_people"]
    reason: str | None
    by: str | None = Field(description="Who paused it, e.g. `user:admin@example.com`")
    at: str | None = Field(description="When it was paused (ISO 8601)")


class WorkflowPublic(BaseModel):
    name: str
    version: int
    spec: dict[str, Any] = Field(description="The definition in force (see docs/workflows.md)")
    paused: bool = Field(default=False, description="Whether an admin paused the workflow")
    pause: PausePublic | None = Field(default=None, description="The pause in force, if any")


class LegalHold(BaseModel):
    """Why an item is held (optional)."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, min_length=1, max_length=1000, pattern=TEXT)


class WorkflowPause(BaseModel):
    """Pause a workflow: `refuse` new items (503), or send `all_to_people`."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["refuse", "all_to_people"]
    reason: str | None = Field(default=None, min_length=1, max_length=1000, pattern=TEXT)


class WorkflowApplied(WorkflowPublic):
    changed: bool = Field(description="False when the body matched the current version")


class WorkflowList(BaseModel):
    workflows: list[WorkflowPublic]


class WorkflowVersionPublic(BaseModel):
    version: int
    created_at: str
    created_by: str | None
    source: str


class WorkflowVersionList(BaseModel):
    workflow: str
    versions: list[WorkflowVersionPublic]


class TradeoffRowPublic(BaseModel):
    threshold: float
    coverage: float
    n_above: int
    estimated_error: float | None
    upper_bound: float | None
    within_budget: bool


class CalibrationPublic(BaseModel):
    """The threshold in force; the evidence fields appear in `error_budget` mode only."""

    workflow: str
    version: int
    mode: str
    qa_sample_rate: float
    auto_decided: int
    human_decided: int
    threshold: float | None
    error_budget: float | None = None
    confidence_level: float | None = None
    min_reviewed: int | None = None
    reviewed: int | None = None
    reviewed_above_threshold: int | None = None
    errors_above_threshold: int | None = None
    estimated_auto_error: float | None = None
    auto_error_upper_bound: float | None = None
    reason: str | None = None
    table: list[TradeoffRowPublic] | None = None


class MetricsSummaryPublic(BaseModel):
    """The dashboard's figures for one workflow or all, over a time window."""

    workflow: str | None
    range: str
    since: str | None
    until: str
    items_received: int
    decisions: dict[str, int]
    automation_rate: float | None
    override_rate: float | None
    overridden: int
    time_to_decision_seconds: dict[str, dict[str, Any]]
    confidence_histogram: dict[str, Any]
    by_day: list[dict[str, Any]]
    reviewers: list[dict[str, Any]]
    queue: dict[str, Any]
    sla: dict[str, int]
    auto_error: dict[str, Any] | None
    workflows: list[dict[str, Any]]
    #: SLA timers fired in the window, time to first touch, pending tasks by group now.
    review_ops: dict[str, Any]
    oversight: dict[str, Any] = Field(
        description="Automation bias (agreement with the AI on blind vs assisted tasks) and "
        "reviewers' gold accuracy, each with a Wilson 95 % interval; flagged reviewers"
    )
    #: Consensus: Fleiss' kappa per workflow, Cohen's kappa per reviewer pair.
    agreement: dict[str, Any]


class GoldItemCreate(_Body):
    content: dict[str, Any] = Field(description="The item's content, as an application sends it")
    label: Text = Field(max_length=255, description="The known right label")
    metadata: dict[str, Any] | None = None
    external_id: Text | None = Field(
        default=None, max_length=255, description="An id shown like the application's own"
    )


class GoldImport(_Body):
    items: list[GoldItemCreate] = Field(min_length=1, max_length=10_000)


class GoldImported(BaseModel):
    workflow: str
    imported: int
    released: int = Field(description="Gold items in the queue so far (`review.gold_rate`)")
    waiting: int = Field(description="Gold items not yet mixed into the queue")


class HealthPublic(BaseModel):
    status: str
    version: str


class WorkersReadiness(BaseModel):
    """This process's worker threads: `dead` names those not running."""

    status: Literal["ok", "dead"]
    dead: list[str]


class ReadyPublic(BaseModel):
    """/readyz: `ready` (200), or `not_ready` (503 with Retry-After) saying what is down."""

    status: Literal["ready", "not_ready"]
    version: str
    database: Literal["ok", "unavailable"]
    workers: WorkersReadiness | None = None
    error: Literal["not_ready"] | None = None
    detail: str | None = None


class LegalHoldPublic(BaseModel):
    item_id: int
    legal_hold: bool
    held_at: str | None
    held_by: str | None
    content_purged_at: str | None


class ItemRecord(BaseModel):
    """An item's compliance record (see docs/compliance.md for every part)."""

    item_id: int
    external_id: str | None
    workflow: str
    state: str
    created_at: str
    input: dict[str, Any] = Field(description="content_sha256, purge and legal hold")
    workflow_version: dict[str, Any] = Field(description="version, author, ai and routing")
    model: dict[str, Any]
    prediction: dict[str, Any] | None
    routing: dict[str, Any] = Field(description="route, reasons, threshold in force")
    viewed: list[dict[str, Any]] = Field(description="every `viewed` event: actor, at")
    reviews: list[dict[str, Any]]
    decision: dict[str, Any] | None
    deliveries: list[dict[str, Any]] = Field(description="messages and delivery attempts")
    audit: dict[str, Any] = Field(description="events, head, verified, problems")


class DecisionExportRow(BaseModel):
    """One decided item in the bulk export (a JSON line, or a CSV row with these columns)."""

    item_id: int
    external_id: str | None
    workflow: str
    workflow_version: int
    state: str
    content_sha256: str | None
    content_purged: bool
    model: str | None
    model_version: str | None
    ai_label: str | None
    confidence: float | None
    route: str | None
    route_reasons: list[str]
    threshold: float | None
    qa_sample: bool
    outcome: str | None
    final_label: str | None
    decided_by: str | None
    decided_at: str | None
    override: bool | None
    comment: str | None
    created_at: str


_ISO_DATE_START = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_time(value: Any) -> Any:
    """Only ISO 8601 text: pydantic would also read a number (`1e9`, `-6e-176`) as seconds
    since 1970, so anything not starting with a YYYY-MM-DD date is refused."""
    if value is None:
        return None
    if not isinstance(value, str) or not _ISO_DATE_START.match(value.strip()):
        raise ValueError("must be an ISO 8601 date or time, e.g. 2026-01-31T00:00:00Z")
    return value


#: A point in time in a query: ISO 8601 only.
TimeQuery = Annotated[datetime | None, BeforeValidator(_iso_time)]
