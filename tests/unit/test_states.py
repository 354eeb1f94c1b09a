"""The one transition function, walked over every (from, to) pair on a real SQLite file."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from signoff.domain import audit as audit_rules
from signoff.domain import errors
from signoff.domain.states import TRANSITIONS, ItemState
from signoff.storage import audit, engine, items, state, workflows
from signoff.storage import tables as t

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = audit_rules.ChainKey.from_material("a test audit key, long enough to use")
ALL_PAIRS = list(itertools.product(ItemState, ItemState))
ALLOWED = [p for p in ALL_PAIRS if p in TRANSITIONS]
DISALLOWED = [p for p in ALL_PAIRS if p not in TRANSITIONS]


def _pair_id(pair: tuple[ItemState, ItemState]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


@pytest.fixture
def factory(sqlite_url: str) -> Iterator[Any]:
    eng = engine.create_engine(sqlite_url)
    sessions = engine.make_sessionmaker(eng, audit_key=KEY)
    with engine.transaction(sessions) as session:
        workflow_id = workflows.create_workflow(session, "states", NOW, org_id=1)
        workflows.create_version(
            session, workflow_id, 1, {"name": "states", "labels": ["a"]}, "", "test", NOW
        )
    sessions.workflow_id = workflow_id  # type: ignore[attr-defined]
    yield sessions
    eng.dispose()


def _create_item(sessions: Any, item_state: ItemState, **values: Any) -> int:
    row = {
        "workflow_id": sessions.workflow_id,
        "workflow_version": 1,
        "content": {"text": "x"},
        "metadata": {},
        "state": item_state.value,
        "created_at": NOW,
        "updated_at": NOW,
        "attempts": 0,
        "audit_seq": 0,
        "audit_hash": "",
    }
    row.update(values)
    with engine.transaction(sessions) as session:
        row["id"] = items.allocate_ids(session, 1)[0]
        items.create_items(session, [row])
        return int(row["id"])


def _events(session: Session, item_id: int) -> list[audit_rules.StoredEvent]:
    return audit.list_item_events(session, item_id)


def _outbox_rows(session: Session, item_id: int) -> list[Any]:
    return list(session.execute(sa.select(t.outbox).where(t.outbox.c.item_id == item_id)))


def test_the_walk_covers_all_forty_nine_pairs_and_the_table_names_only_real_states() -> None:
    assert len(ALL_PAIRS) == 49
    assert len(ALLOWED) == len(TRANSITIONS) == 12
    assert len(ALLOWED) + len(DISALLOWED) == 49


@pytest.mark.parametrize("pair", ALLOWED, ids=_pair_id)
def test_allowed_transition_moves_the_item_and_appends_one_audit_event(
    factory: Any, pair: tuple[ItemState, ItemState]
) -> None:
    source, target = pair
    item_id = _create_item(factory, source)
    with engine.transaction(factory) as session:
        state.set_item_state(
            session,
            state.StateChange(
                item_id=item_id,
                expected=source,
                target=target,
                event="moved",
                actor="test",
                data={"why": "walk"},
            ),
            NOW,
        )
    with factory() as session:
        row = items.read_item(session, item_id)
        events = _events(session, item_id)
        outbox_rows = _outbox_rows(session, item_id)
    assert row.state == target.value
    assert row.audit_seq == 1
    assert len(events) == 1
    event = events[0]
    assert (event.type, event.actor, event.seq) == ("moved", "test", 1)
    assert event.data == {"why": "walk", "from": source.value, "to": target.value}
    assert row.audit_hash == event.hash
    assert (
        audit_rules.verify_chain(
            audit_rules.item_chain(item_id),
            events,
            head=(row.audit_seq, row.audit_hash),
            keys={KEY.key_id: KEY.secret},
        )
        == []
    )
    assert outbox_rows == []


@pytest.mark.parametrize("pair", DISALLOWED, ids=_pair_id)
def test_disallowed_transition_raises_invalid_transition_and_writes_nothing(
    factory: Any, pair: tuple[ItemState, ItemState]
) -> None:
    source, target = pair
    item_id = _create_item(factory, source)
    with factory() as session, session.begin():
        with pytest.raises(errors.InvalidTransition) as raised:
            state.set_item_state(
                session,
                state.StateChange(
                    item_id=item_id,
                    expected=source,
                    target=target,
                    event="moved",
                    actor="test",
                    outbox=[state.OutboxMessage("webhook", {"x": 1})],
                ),
                NOW,
            )
        # Nothing was written even before the transaction ends.
        assert _events(session, item_id) == []
        assert _outbox_rows(session, item_id) == []
        assert items.read_item(session, item_id).state == source.value
    assert raised.value.context == {"source": source.value, "target": target.value}
    assert source.value in raised.value.detail and target.value in raised.value.detail


def test_allowed_transitions_chain_through_a_whole_life_with_a_verifying_hash_chain(
    factory: Any,
) -> None:
    item_id = _create_item(factory, ItemState.RECEIVED)
    path = [
        ItemState.RECEIVED,
        ItemState.PROCESSING,
        ItemState.PROCESSING,
        ItemState.IN_REVIEW,
        ItemState.REJECTED,
        ItemState.ARCHIVED,
    ]
    for source, target in itertools.pairwise(path):
        with engine.transaction(factory) as session:
            state.set_item_state(
                session,
                state.StateChange(
                    item_id=item_id,
                    expected=source,
                    target=target,
                    event=f"to_{target.value}",
                    actor="test",
                ),
                NOW,
            )
    with factory() as session:
        row = items.read_item(session, item_id)
        events = _events(session, item_id)
    assert row.state == ItemState.ARCHIVED.value
    assert [e.type for e in events] == [f"to_{s.value}" for s in path[1:]]
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert (
        audit_rules.verify_chain(
            audit_rules.item_chain(item_id),
            events,
            head=(row.audit_seq, row.audit_hash),
            keys={KEY.key_id: KEY.secret},
        )
        == []
    )


def test_stale_expected_state_raises_state_conflict_and_leaves_the_row_alone(
    factory: Any,
) -> None:
    item_id = _create_item(factory, ItemState.IN_REVIEW)
    with factory() as session, session.begin():
        with pytest.raises(errors.StateConflict):
            state.set_item_state(
                session,
                state.StateChange(
                    item_id=item_id,
                    expected=ItemState.PROCESSING,
                    target=ItemState.IN_REVIEW,
                    event="routed",
                    actor="worker",
                ),
                NOW,
            )
        assert _events(session, item_id) == []
    with factory() as session:
        row = items.read_item(session, item_id)
    assert (row.state, row.audit_seq) == (ItemState.IN_REVIEW.value, 0)


def test_stale_audit_head_raises_state_conflict_even_when_the_state_still_matches(
    factory: Any,
) -> None:
    item_id = _create_item(factory, ItemState.IN_REVIEW)
    with engine.transaction(factory) as session:
        state.set_item_state(
            session,
            state.StateChange(
                item_id=item_id,
                expected=None,
                target=None,
                event="viewed",
                actor="user:a@example.com",
            ),
            NOW,
        )
    with factory() as session, session.begin(), pytest.raises(errors.StateConflict):
        state.set_item_state(
            session,
            state.StateChange(
                item_id=item_id,
                expected=ItemState.IN_REVIEW,
                target=ItemState.APPROVED,
                event="decided",
                actor="b",
                head=(0, ""),
            ),
            NOW,
        )
    with factory() as session:
        row = items.read_item(session, item_id)
        assert [e.type for e in _events(session, item_id)] == ["viewed"]
    assert row.state == ItemState.IN_REVIEW.value


def test_change_of_an_item_that_does_not_exist_raises_state_conflict(factory: Any) -> None:
    with factory() as session, session.begin(), pytest.raises(errors.StateConflict):
        state.set_item_state(
            session,
            state.StateChange(
                item_id=987654,
                expected=ItemState.RECEIVED,
                target=ItemState.PROCESSING,
                event="claimed",
                actor="w",
            ),
            NOW,
        )


def test_lease_guarded_change_by_a_non_owner_raises_lease_lost(factory: Any) -> None:
    item_id = _create_item(
        factory,
        ItemState.PROCESSING,
        lease_owner="worker-a",
        lease_expires_at=NOW + timedelta(seconds=60),
    )
    with factory() as session, session.begin():
        with pytest.raises(errors.LeaseLost) as raised:
            state.set_item_state(
                session,
                state.StateChange(
                    item_id=item_id,
                    expected=ItemState.PROCESSING,
                    target=ItemState.IN_REVIEW,
                    event="routed_to_review",
                    actor="ai",
                    lease_owner="worker-b",
                    values={"lease_owner": None},
                ),
                NOW,
            )
        assert _events(session, item_id) == []
    assert raised.value.context == {"item_id": item_id}
    with factory() as session:
        row = items.read_item(session, item_id)
    assert (row.state, row.lease_owner) == (ItemState.PROCESSING.value, "worker-a")


def test_lease_guarded_change_by_the_owner_applies_and_sets_the_given_columns(
    factory: Any,
) -> None:
    item_id = _create_item(
        factory,
        ItemState.PROCESSING,
        lease_owner="worker-a",
        lease_expires_at=NOW + timedelta(seconds=60),
    )
    with engine.transaction(factory) as session:
        state.set_item_state(
            session,
            state.StateChange(
                item_id=item_id,
                expected=ItemState.PROCESSING,
                target=ItemState.IN_REVIEW,
                event="routed_to_review",
                actor="ai",
                lease_owner="worker-a",
                values={
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "ai_label": "a",
                    "confidence": 0.4,
                },
            ),
            NOW,
        )
    with factory() as session:
        row = items.read_item(session, item_id)
        events = _events(session, item_id)
    assert row.state == ItemState.IN_REVIEW.value
    assert (row.lease_owner, row.lease_expires_at, row.ai_label, row.confidence) == (
        None,
        None,
        "a",
        0.4,
    )
    assert row.updated_at == NOW
    assert [e.type for e in events] == ["routed_to_review"]


def test_applied_change_writes_exactly_the_outbox_rows_given(factory: Any) -> None:
    item_id = _create_item(factory, ItemState.IN_REVIEW)
    messages = [
        state.OutboxMessage(
            "webhook",
            {"type": "item.decided", "n": 1},
            target="https://example.com/a",
            workflow_id=factory.workflow_id,
        ),
        state.OutboxMessage("email", {"to": "ops@example.com"}, target="ops@example.com"),
    ]
    with engine.transaction(factory) as session:
        state.set_item_state(
            session,
            state.StateChange(
                item_id=item_id,
                expected=ItemState.IN_REVIEW,
                target=ItemState.APPROVED,
                event="decided",
                actor="user:r",
                outbox=messages,
            ),
            NOW,
        )
    with factory() as session:
        rows = sorted(_outbox_rows(session, item_id), key=lambda r: r.id)
        events = _events(session, item_id)
    assert len(events) == 1
    assert [(r.kind, r.target, r.payload, r.workflow_id) for r in rows] == [
        ("webhook", "https://example.com/a", {"type": "item.decided", "n": 1}, factory.workflow_id),
        ("email", "ops@example.com", {"to": "ops@example.com"}, None),
    ]
    assert all(r.status == "pending" and r.attempts == 0 for r in rows)
    assert all(r.next_attempt_at == NOW and r.created_at == NOW for r in rows)
    assert len({r.message_id for r in rows}) == 2


def test_conflicting_change_writes_no_outbox_rows(factory: Any) -> None:
    item_id = _create_item(factory, ItemState.CANCELLED)
    with factory() as session, session.begin(), pytest.raises(errors.InvalidTransition):
        state.set_item_state(
            session,
            state.StateChange(
                item_id=item_id,
                expected=ItemState.CANCELLED,
                target=ItemState.APPROVED,
                event="decided",
                actor="x",
                outbox=[state.OutboxMessage("webhook", {"a": 1})],
            ),
            NOW,
        )
    item_id2 = _create_item(factory, ItemState.APPROVED)
    with factory() as session, session.begin():
        with pytest.raises(errors.StateConflict):
            state.set_item_state(
                session,
                state.StateChange(
                    item_id=item_id2,
                    expected=ItemState.IN_REVIEW,
                    target=ItemState.APPROVED,
                    event="decided",
                    actor="x",
                    outbox=[state.OutboxMessage("webhook", {"a": 1})],
                ),
                NOW,
            )
        assert _outbox_rows(session, item_id2) == []


def test_batch_of_changes_applies_the_fresh_ones_and_skips_the_stale_ones(
    factory: Any,
) -> None:
    fresh = [_create_item(factory, ItemState.RECEIVED) for _ in range(3)]
    stale = _create_item(factory, ItemState.PROCESSING)
    changes = [
        state.StateChange(
            item_id=i,
            expected=ItemState.RECEIVED,
            target=ItemState.PROCESSING,
            event="claimed",
            actor="w",
            values={"lease_owner": "w"},
            outbox=[state.OutboxMessage("webhook", {"i": i})],
        )
        for i in [*fresh, stale]
    ]
    with engine.transaction(factory) as session:
        applied = state.set_item_states(session, changes, NOW)
    assert sorted(c.item_id for c in applied) == sorted(fresh)
    with factory() as session:
        for item_id in fresh:
            assert items.read_item(session, item_id).state == ItemState.PROCESSING.value
            assert [e.type for e in _events(session, item_id)] == ["claimed"]
            assert len(_outbox_rows(session, item_id)) == 1
        assert items.read_item(session, stale).state == ItemState.PROCESSING.value
        assert _events(session, stale) == []
        assert _outbox_rows(session, stale) == []
