"""Item states and the one table of allowed transitions."""

from __future__ import annotations

from enum import StrEnum

from signoff.domain import errors


class ItemState(StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    ARCHIVED = "archived"
    CANCELLED = "cancelled"


S = ItemState

#: Every allowed (from, to) pair. `processing -> processing` is lease recovery.
TRANSITIONS: frozenset[tuple[ItemState, ItemState]] = frozenset(
    {
        (S.RECEIVED, S.PROCESSING),
        (S.PROCESSING, S.PROCESSING),
        (S.PROCESSING, S.IN_REVIEW),
        (S.PROCESSING, S.APPROVED),
        (S.PROCESSING, S.REJECTED),
        (S.IN_REVIEW, S.APPROVED),
        (S.IN_REVIEW, S.REJECTED),
        (S.APPROVED, S.ARCHIVED),
        (S.REJECTED, S.ARCHIVED),
        (S.RECEIVED, S.CANCELLED),
        (S.PROCESSING, S.CANCELLED),
        (S.IN_REVIEW, S.CANCELLED),
    }
)

OPEN_STATES: frozenset[ItemState] = frozenset({S.RECEIVED, S.PROCESSING, S.IN_REVIEW})
DECIDED_STATES: frozenset[ItemState] = frozenset({S.APPROVED, S.REJECTED})
FINAL_STATES: frozenset[ItemState] = frozenset({S.APPROVED, S.REJECTED, S.ARCHIVED, S.CANCELLED})
#: Items retention may purge: decided, or archived after their decision.
PURGEABLE_STATES: frozenset[ItemState] = frozenset({S.APPROVED, S.REJECTED, S.ARCHIVED})


def is_allowed(source: ItemState, target: ItemState) -> bool:
    """Whether the table allows moving an item from `source` to `target`."""
    return (source, target) in TRANSITIONS


def check_transition(source: ItemState, target: ItemState) -> None:
    """Raise InvalidTransition unless the table allows `source -> target`."""
    if not is_allowed(source, target):
        raise errors.InvalidTransition(
            f"cannot move an item from {source.value} to {target.value}",
            source=source.value,
            target=target.value,
        )


class TaskStatus(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    DECIDED = "decided"
    CANCELLED = "cancelled"


class Role(StrEnum):
    ADMIN = "admin"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"


class RouteKind(StrEnum):
    AUTO = "auto"
    HUMAN = "human"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"
