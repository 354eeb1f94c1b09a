"""Typed answers of the REST API, one model per schema of the server's OpenAPI document.

The client keeps its own copies (it must not import the server) and a test compares their
fields with `/openapi.json`, so they cannot drift. Models read like the JSON they came
from: `item["decision"]["outcome"]` works as well as `item.decision.outcome`, and
`model_dump(mode="json")` gives back the dict the server answered.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """A server answer: attribute or key access; fields a newer server adds are kept."""

    # A newer server may add fields; an older client keeps them instead of failing.
    model_config = ConfigDict(extra="allow", frozen=True, protected_namespaces=())

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields or key in (self.model_extra or {}):
            return getattr(self, key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (
            key in type(self).model_fields or key in (self.model_extra or {})
        )

    def get(self, key: str, default: Any = None) -> Any:
        """The field's value, or `default` when the answer has no such field."""
        try:
            return self[key]
        except KeyError:
            return default


class PredictionPublic(Model):
    label: str | None
    confidence: float | None
    entities: list[dict[str, Any]]
    model: str | None
    model_version: str | None
    scores: dict[str, float]
    confidence_method: str | None
    error: str | None
    explanation: dict[str, Any] | None = None


class RoutePublic(Model):
    route: str
    reasons: list[str]
    threshold: float | None


class DecisionPublic(Model):
    outcome: str | None
    labels: list[str]
    label: str | None
    entities: list[dict[str, Any]]
    decided_by: str | None
    comment: str | None
    decided_at: str
    override: bool | None
    fields: dict[str, Any] = {}


class ItemPublic(Model):
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

    @property
    def settled(self) -> bool:
        """Whether the item has its final answer (decided, archived or cancelled)."""
        return self.state in SETTLED


#: States after which an item's answer no longer changes.
SETTLED = frozenset({"approved", "rejected", "archived", "cancelled"})


class ItemWaited(ItemPublic):
    timed_out: bool


class ItemList(Model):
    items: list[ItemPublic]
    next_cursor: int | None


class ItemSubmitted(Model):
    id: int
    created: bool
    state: str | None


class ItemBatchPublic(Model):
    items: list[ItemSubmitted]


class EventPublic(Model):
    id: int
    seq: int
    type: str
    actor: str | None
    data: dict[str, Any] | None
    created_at: str
    hash: str
    prev_hash: str | None


class TaskSummary(Model):
    id: int
    status: str
    assignee_id: int | None
    due_at: str | None


class ItemEventList(Model):
    item_id: int
    verified: bool
    problems: list[str]
    events: list[EventPublic]
    tasks: list[TaskSummary]


class TaskPublic(Model):
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
    #: Consensus: `vote` or `tiebreak` (None: the item's only task).
    kind: str | None = None
    item: ItemPublic | None = None


class PausePublic(Model):
    mode: str
    reason: str | None
    by: str | None
    at: str | None


class WorkflowPublic(Model):
    name: str
    version: int
    spec: dict[str, Any]
    paused: bool = False
    pause: PausePublic | None = None


class WorkflowApplied(WorkflowPublic):
    changed: bool


class WorkflowList(Model):
    workflows: list[WorkflowPublic]


class TradeoffRowPublic(Model):
    threshold: float
    coverage: float
    n_above: int
    estimated_error: float | None
    upper_bound: float | None
    within_budget: bool


class CalibrationPublic(Model):
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


#: Every model named as the server's OpenAPI document names its schema.
SCHEMAS: tuple[type[Model], ...] = (
    PredictionPublic,
    RoutePublic,
    DecisionPublic,
    ItemPublic,
    ItemWaited,
    ItemList,
    ItemSubmitted,
    ItemBatchPublic,
    EventPublic,
    TaskSummary,
    ItemEventList,
    TaskPublic,
    PausePublic,
    WorkflowPublic,
    WorkflowApplied,
    WorkflowList,
    TradeoffRowPublic,
    CalibrationPublic,
)
