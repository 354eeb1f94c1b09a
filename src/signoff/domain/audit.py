"""Hash-chain rules for audit events: how a hash is computed and how a chain is checked."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum, unique
from typing import Any

GENESIS = ""


@unique
class EventKind(StrEnum):
    """What an audit event records; the value is the event's stored `type`."""

    # On an item's chain.
    RECEIVED = "received"
    CLAIMED = "claimed"
    LEASE_RECOVERED = "lease_recovered"
    ROUTED_TO_REVIEW = "routed_to_review"
    AUTO_DECIDED = "auto_decided"
    VIEWED = "viewed"
    ASSIGNED = "assigned"
    RELEASED = "released"
    DECIDED = "decided"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    CANCELLED = "cancelled"
    ARCHIVED = "archived"
    # On the system chain.
    WORKFLOW_APPLIED = "workflow_applied"
    USER_ADDED = "user_added"
    USER_CHANGED = "user_changed"
    PASSWORD_SET = "password_set"
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"
    LABELS_IMPORTED = "labels_imported"
    MODEL_TRAINED = "model_trained"
    # SLA timers (timers part), on an item's chain.
    REMINDED = "reminded"
    ESCALATED = "escalated"
    TIMED_OUT = "timed_out"
    # Assignment (assign): an admin released a task (item chain); groups changed (system);
    # a task's creation was announced without anyone being assigned (item chain).
    UNASSIGNED = "unassigned"
    GROUP_CHANGED = "group_changed"
    NOTIFIED = "notified"


def item_chain(item_id: int) -> str:
    return f"item:{item_id}"


def event_hash(
    *,
    chain: str,
    seq: int,
    prev_hash: str,
    type: str,
    actor: str,
    data: Any,
    created_at: datetime,
) -> str:
    """SHA-256 over the canonical JSON of an event and the hash before it."""
    body = json.dumps(
        [chain, seq, prev_hash, type, actor, data, created_at.isoformat()],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredEvent:
    id: int
    chain: str
    seq: int
    item_id: int | None
    type: str
    actor: str
    data: Any
    created_at: datetime
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainProblem:
    chain: str
    item_id: int | None
    event_id: int | None
    seq: int | None
    problem: str

    def describe(self) -> str:
        where = f"item {self.item_id}" if self.item_id is not None else self.chain
        event = f" event {self.event_id} (seq {self.seq})" if self.event_id is not None else ""
        return f"{where}{event}: {self.problem}"


def verify_chain(
    chain: str,
    events: Iterable[StoredEvent],
    *,
    head: tuple[int, str] | None,
    item_id: int | None = None,
) -> list[ChainProblem]:
    """Check one chain's events (in id order) against each other and the stored head."""
    problems: list[ChainProblem] = []
    expected_seq = 1
    prev = GENESIS
    for event in events:
        if event.seq != expected_seq:
            problems.append(
                ChainProblem(
                    chain,
                    item_id,
                    event.id,
                    event.seq,
                    f"expected seq {expected_seq}: an event was deleted or reordered",
                )
            )
            return problems
        if event.prev_hash != prev:
            problems.append(
                ChainProblem(chain, item_id, event.id, event.seq, "prev_hash does not link")
            )
            return problems
        recomputed = event_hash(
            chain=chain,
            seq=event.seq,
            prev_hash=event.prev_hash,
            type=event.type,
            actor=event.actor,
            data=event.data,
            created_at=event.created_at,
        )
        if recomputed != event.hash:
            problems.append(ChainProblem(chain, item_id, event.id, event.seq, "event was modified"))
            return problems
        prev = event.hash
        expected_seq += 1
    if head is not None and head != (expected_seq - 1, prev):
        problems.append(
            ChainProblem(
                chain,
                item_id,
                None,
                None,
                f"chain ends at seq {expected_seq - 1} but the head says seq {head[0]}: "
                "events were deleted or the last one modified",
            )
        )
    return problems
