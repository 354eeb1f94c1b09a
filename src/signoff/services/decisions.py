"""Decisions: what a decision records and the webhook message it causes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from signoff.domain.workflow import WorkflowSpec
from signoff.storage import state

WEBHOOK_EVENT = "item.decided"


@dataclass(frozen=True)
class DecisionRecord:
    outcome: str
    label: str | None
    entities: list[dict[str, Any]]
    decided_by: str
    comment: str | None
    decided_at: datetime
    override: bool
    #: Every label (a multi-label workflow's reviewer may pick several; `label` is the first).
    labels: tuple[str, ...] = ()
    #: The values of the workflow's review fields.
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def all_labels(self) -> list[str]:
        return list(self.labels) if self.labels else ([self.label] if self.label else [])

    def columns(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "final_label": self.label,
            "final_labels": self.all_labels,
            "final_fields": dict(self.fields),
            "final_entities": self.entities,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at,
            "comment": self.comment,
            "override": self.override,
        }


def delivery_messages(
    spec: WorkflowSpec,
    workflow_id: int,
    item_id: int,
    decision: DecisionRecord,
    item_values: dict[str, Any],
) -> list[state.OutboxMessage]:
    """The webhook the decision causes, if the workflow has a receiver."""
    if not spec.delivery.webhook_url:
        return []
    payload = {
        "type": WEBHOOK_EVENT,
        "timestamp": decision.decided_at.isoformat(),
        "data": {
            "item_id": item_id,
            "external_id": item_values.get("external_id"),
            "workflow": spec.name,
            "outcome": decision.outcome,
            "label": decision.label,
            "labels": decision.all_labels,
            "fields": dict(decision.fields),
            "entities": decision.entities,
            "decided_by": decision.decided_by,
            "decided_at": decision.decided_at.isoformat(),
            "comment": decision.comment,
            "override": decision.override,
            "ai_label": item_values.get("ai_label"),
            "confidence": item_values.get("confidence"),
            "route": item_values.get("route"),
        },
    }
    return [
        state.OutboxMessage(
            kind="webhook",
            payload=payload,
            target=spec.delivery.webhook_url,
            workflow_id=workflow_id,
        )
    ]
