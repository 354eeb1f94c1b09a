"""Audit event kinds hash exactly like the text stored for them, so old chains still verify."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from signoff.domain import audit as audit_rules
from signoff.domain.audit import EventKind

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_an_event_kind_hashes_like_its_stored_type_text() -> None:
    common = {"chain": "item:1", "seq": 1, "prev_hash": "", "actor": "ai", "created_at": NOW}
    for kind in EventKind:
        data = {"kind": kind, "nested": [kind]}
        plain = {"kind": kind.value, "nested": [kind.value]}
        assert audit_rules.event_hash(type=kind, data=data, **common) == audit_rules.event_hash(
            type=kind.value, data=plain, **common
        )


def test_a_chain_written_with_kinds_verifies_when_read_back_as_text() -> None:
    digest = audit_rules.event_hash(
        chain="item:7",
        seq=1,
        prev_hash=audit_rules.GENESIS,
        type=EventKind.DECIDED,
        actor="user:a@example.com",
        data={"outcome": "approved"},
        created_at=NOW,
    )
    stored = audit_rules.StoredEvent(
        id=1,
        chain="item:7",
        seq=1,
        item_id=7,
        type="decided",
        actor="user:a@example.com",
        data={"outcome": "approved"},
        created_at=NOW,
        prev_hash=audit_rules.GENESIS,
        hash=digest,
    )
    assert audit_rules.verify_chain("item:7", [stored], head=(1, digest), item_id=7) == []


KEY = audit_rules.ChainKey.from_material("unit test audit key, long enough to use")


def _chain(n: int, key: audit_rules.ChainKey | None = KEY) -> list[audit_rules.StoredEvent]:
    events, prev = [], audit_rules.GENESIS
    for seq in range(1, n + 1):
        fields = {"type": "viewed", "actor": "ai", "data": {"n": seq}, "created_at": NOW}
        digest = audit_rules.event_hash(
            chain="item:1", seq=seq, prev_hash=prev, key=key.secret if key else None, **fields
        )
        events.append(
            audit_rules.StoredEvent(
                id=seq,
                chain="item:1",
                seq=seq,
                item_id=1,
                prev_hash=prev,
                hash=digest,
                key_id=key.key_id if key else None,
                **fields,
            )
        )
        prev = digest
    return events


def _check(events: list[audit_rules.StoredEvent], **kwargs: Any) -> audit_rules.ChainCheck:
    head = (events[-1].seq, events[-1].hash)
    return audit_rules.check_chain(
        "item:1", events, head=head, item_id=1, keys={KEY.key_id: KEY.secret}, **kwargs
    )


def test_a_keyed_hash_is_an_hmac_that_differs_from_the_legacy_sha256_and_per_key() -> None:
    other = audit_rules.ChainKey.from_material("another audit key, also long enough")
    fields: dict[str, Any] = {
        "chain": "c",
        "seq": 1,
        "prev_hash": "",
        "type": "t",
        "actor": "a",
        "data": {},
    }
    legacy = audit_rules.event_hash(created_at=NOW, **fields)
    keyed = audit_rules.event_hash(created_at=NOW, key=KEY.secret, **fields)
    assert (
        len({legacy, keyed, audit_rules.event_hash(created_at=NOW, key=other.secret, **fields)})
        == 3
    )
    assert KEY.key_id != other.key_id and len(KEY.key_id) == 16
    assert "secret=" not in repr(KEY)  # a key never lands in a log through its repr


def test_incremental_check_rehashes_only_after_the_anchor_and_compares_the_anchor() -> None:
    events = _chain(5)
    anchor = audit_rules.Anchor(3, events[2].hash, "then")
    found = _check(events[2:], anchor=anchor, incremental=True)
    assert found.problems == [] and found.rehashed == 2
    assert _check(events, anchor=anchor).rehashed == 5
    moved = audit_rules.Anchor(3, "0" * 64, "then")
    [problem] = _check(events[2:], anchor=moved, incremental=True).problems
    assert problem.seq == 3 and "differs from the checkpoint of then" in problem.problem


def test_events_signed_with_a_key_not_configured_are_named_as_such() -> None:
    stranger = audit_rules.ChainKey.from_material("a key this server was never given")
    [problem] = _check(_chain(2, stranger)).problems
    assert f"audit key {stranger.key_id}, which is not configured" in problem.problem


def test_a_legacy_prefix_verifies_but_no_legacy_event_may_follow_the_anchor() -> None:
    events = _chain(3, None)
    found = _check(events)
    assert found.problems == [] and found.legacy == 3
    [problem] = _check(events, anchor=audit_rules.Anchor(2, events[1].hash, "then")).problems
    assert problem.seq == 3 and "unkeyed (legacy SHA-256) event follows" in problem.problem


def test_a_chain_begun_after_a_checkpoint_may_hold_no_legacy_event() -> None:
    assert _check(_chain(2), keyed_only=True).problems == []
    [problem] = _check(_chain(2, None), keyed_only=True).problems
    assert problem.seq == 1 and "in a chain begun after the checkpoint" in problem.problem
