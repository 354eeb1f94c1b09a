"""Hash-chain rules for audit events: how a hash is computed and how a chain is checked.

An event's hash is an HMAC-SHA256 under the server's audit key, over the canonical JSON
of the event and the hash before it; the key's id is stored with the event, so keys can
be rotated and old events still verify under the old key. Events written before keyed
chains (key id None) are plain SHA-256 over the same JSON, and may only open a chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
    API_KEY_ROTATED = "api_key_rotated"
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
    # Compliance: retention purged an item's payload; a legal hold was set or released
    # (item chain); an admin paused or resumed a workflow (system chain).
    CONTENT_PURGED = "content_purged"
    LEGAL_HOLD_SET = "legal_hold_set"
    LEGAL_HOLD_RELEASED = "legal_hold_released"
    # Consensus (item chain): one reviewer's vote; the votes disagreed and a tie-break
    # task was created.
    CONSENSUS_VOTE = "consensus_vote"
    CONSENSUS_ESCALATED = "consensus_escalated"
    WORKFLOW_PAUSED = "workflow_paused"
    WORKFLOW_RESUMED = "workflow_resumed"
    # Tenancy (system chain): an org was added or its limits changed.
    ORG_ADDED = "org_added"
    ORG_CHANGED = "org_changed"
    # Oversight: gold items imported, a reviewer flagged for gold accuracy (system chain).
    GOLD_IMPORTED = "gold_imported"
    REVIEWER_FLAGGED = "reviewer_flagged"
    REVIEWER_FLAG_LIFTED = "reviewer_flag_lifted"


#: Keys shorter than this are refused outside development (like the secret key).
MIN_KEY_LENGTH = 32
#: Canonical JSON of an event (immutable; one encoder saves rebuilding it per event).
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)
_KEY_PURPOSE = b"signoff audit chain v1"
_KEY_ID_PURPOSE = b"signoff audit key id v1"


def item_chain(item_id: int) -> str:
    return f"item:{item_id}"


@dataclass(frozen=True)
class ChainKey:
    """One HMAC key for audit chains and the id recorded with the events it signs."""

    key_id: str
    secret: bytes = field(repr=False)

    @classmethod
    def from_material(cls, material: str) -> ChainKey:
        """The key made from configured text (an audit key, or the installation's secret key).

        The id is a hash of the derived key, so it names the key without revealing it and
        two processes configured alike agree on it without being told.
        """
        secret = hmac.new(material.encode("utf-8"), _KEY_PURPOSE, hashlib.sha256).digest()
        key_id = hashlib.sha256(_KEY_ID_PURPOSE + secret).hexdigest()[:16]
        return cls(key_id, secret)


@dataclass(frozen=True)
class Keyring:
    """The key new events are signed with and every key old events may be checked with."""

    current: ChainKey
    previous: tuple[ChainKey, ...] = ()

    @property
    def secrets(self) -> dict[str, bytes]:
        keys = {k.key_id: k.secret for k in self.previous}
        keys[self.current.key_id] = self.current.secret
        return keys


def event_hash(
    *,
    chain: str,
    seq: int,
    prev_hash: str,
    type: str,
    actor: str,
    data: Any,
    created_at: datetime,
    key: bytes | None = None,
) -> str:
    """HMAC-SHA256 under `key` (None: legacy SHA-256) of an event's canonical JSON."""
    body = _CANONICAL.encode(
        [chain, seq, prev_hash, type, actor, data, created_at.isoformat()]
    ).encode("utf-8")
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.digest(key, body, "sha256").hex()


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
    key_id: str | None = None


@dataclass(frozen=True)
class Anchor:
    """A chain's head as a signed checkpoint saw it: what the chain must still contain."""

    seq: int
    hash: str
    #: When the checkpoint was taken, for messages.
    taken_at: str


@dataclass
class ChainCheck:
    """What checking one chain found: problems, events re-hashed, legacy events seen."""

    problems: list[ChainProblem] = field(default_factory=list)
    rehashed: int = 0
    legacy: int = 0


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
    keys: Mapping[str, bytes] | None = None,
    anchor: Anchor | None = None,
    incremental: bool = False,
) -> list[ChainProblem]:
    """Check one chain's events (in id order) against each other and the stored head."""
    return check_chain(
        chain,
        events,
        head=head,
        item_id=item_id,
        keys=keys or {},
        anchor=anchor,
        incremental=incremental,
    ).problems


def check_chain(
    chain: str,
    events: Iterable[StoredEvent],
    *,
    head: tuple[int, str] | None,
    item_id: int | None,
    keys: Mapping[str, bytes],
    anchor: Anchor | None = None,
    incremental: bool = False,
    keyed_only: bool = False,
) -> ChainCheck:
    """Check one chain's events (in id order), optionally against a checkpoint's anchor.

    With an anchor, the event at the anchor's seq must carry the anchor's hash (a chain
    rewritten consistently since the checkpoint fails here, whatever key was used) and
    every later event must be keyed; `keyed_only` refuses every unkeyed event (a chain
    begun after a checkpoint, which only keyed code can have written). `incremental` trusts the events up to the anchor,
    which the checkpoint vouched for when it was signed, and re-hashes only those after.
    """
    found = ChainCheck()

    def problem(event: StoredEvent | None, text: str) -> ChainCheck:
        found.problems.append(
            ChainProblem(
                chain,
                item_id,
                event.id if event else None,
                event.seq if event else None,
                text,
            )
        )
        return found

    skip_to = anchor.seq if incremental and anchor is not None else 0
    expected_seq = skip_to or 1
    prev: str | None = None if skip_to else GENESIS
    anchored = anchor is None
    keyed_seen = False
    highest = 0
    for event in events:
        highest = max(highest, event.seq)
        if event.seq < skip_to and prev is None:
            continue  # vouched for by the checkpoint
        if event.seq != expected_seq:
            return problem(event, f"expected seq {expected_seq}: an event was deleted or reordered")
        if prev is None:
            # The anchor event itself, in incremental mode: compared, not re-hashed.
            assert anchor is not None
            if event.hash != anchor.hash:
                return problem(event, _rewritten(anchor))
            anchored = True
            prev = event.hash
            expected_seq += 1
            keyed_seen = event.key_id is not None
            continue
        if event.prev_hash != prev:
            return problem(event, "prev_hash does not link")
        if event.key_id is None:
            if keyed_only:
                return problem(
                    event, "an unkeyed (legacy SHA-256) event in a chain begun after the checkpoint"
                )
            if keyed_seen or (anchor is not None and event.seq > anchor.seq):
                return problem(
                    event, "an unkeyed (legacy SHA-256) event follows keyed ones: it was rewritten"
                )
            key = None
            found.legacy += 1
        else:
            keyed_seen = True
            key = keys.get(event.key_id)
            if key is None:
                return problem(
                    event,
                    f"signed with audit key {event.key_id}, which is not configured: "
                    "add it to SIGNOFF_AUDIT__PREVIOUS_KEYS",
                )
        recomputed = event_hash(
            chain=chain,
            seq=event.seq,
            prev_hash=event.prev_hash,
            type=event.type,
            actor=event.actor,
            data=event.data,
            created_at=event.created_at,
            key=key,
        )
        found.rehashed += 1
        if not hmac.compare_digest(recomputed, event.hash):
            return problem(event, "event was modified")
        if anchor is not None and event.seq == anchor.seq:
            if event.hash != anchor.hash:
                return problem(event, _rewritten(anchor))
            anchored = True
        prev = event.hash
        expected_seq += 1
    last = expected_seq - 1
    if not anchored:
        assert anchor is not None
        return problem(
            None,
            f"chain ends at seq {last if prev is not None else highest} but the checkpoint of "
            f"{anchor.taken_at} has it at seq {anchor.seq}: events were deleted",
        )
    if head is not None and prev is not None and head != (last, prev):
        return problem(
            None,
            f"chain ends at seq {last} but the head says seq {head[0]}: "
            "events were deleted or the last one modified",
        )
    return found


def _rewritten(anchor: Anchor) -> str:
    return (
        f"differs from the checkpoint of {anchor.taken_at} at seq {anchor.seq}: "
        "the chain was rewritten since"
    )
