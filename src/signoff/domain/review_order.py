"""Which review task to offer first when a workflow orders its queue to learn.

`due` (the default) offers tasks in due order. `uncertainty` and `rarest_label` give
each task a priority when it is created (lower first): the AI's confidence, or the
share of the AI's label among the labels the active model learned from. Among tasks
whose SLA is not at risk (due later than `order_margin` from now) the lowest priority
comes first, so each review teaches the model the most; a task at risk keeps its
place in due order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum


class QueueOrder(StrEnum):
    DUE = "due"
    UNCERTAINTY = "uncertainty"
    RAREST_LABEL = "rarest_label"


def task_priority(
    order: QueueOrder,
    confidence: float | None,
    label: str | None,
    label_counts: Mapping[str, int] | None,
) -> float | None:
    """The task's priority (lower first), or None for due order."""
    if order is QueueOrder.DUE:
        return None
    if order is QueueOrder.UNCERTAINTY:
        # No confidence (no model yet, or the AI failed): as unsure as it gets.
        return 0.0 if confidence is None else float(confidence)
    total = sum(label_counts.values()) if label_counts else 0
    if label is None or total <= 0:
        return 0.0
    return (label_counts or {}).get(label, 0) / total


def learn_until(order: QueueOrder, due_at: datetime | None, margin: timedelta) -> datetime | None:
    """Until when the task may wait behind less certain ones (None: no due time, always)."""
    if order is QueueOrder.DUE or due_at is None:
        return None
    return due_at - margin
