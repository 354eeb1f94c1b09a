"""Audit event kinds hash exactly like the text stored for them, so old chains still verify."""

from __future__ import annotations

from datetime import UTC, datetime

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
