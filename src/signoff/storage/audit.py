"""Audit events: append to an item's chain or the system chain, read them back."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from signoff.domain import audit as audit_rules
from signoff.domain import errors
from signoff.storage import engine
from signoff.storage import tables as t

SYSTEM_CHAIN = "system"


@dataclass
class PendingEvent:
    """An event about to be appended to an item's chain."""

    item_id: int
    type: audit_rules.EventKind
    actor: str
    data: dict[str, Any] = field(default_factory=dict)


def chain_key(session: Session) -> audit_rules.ChainKey:
    """The key this session signs audit events with (set by services.context)."""
    key = session.info.get(engine.AUDIT_KEY)
    if not isinstance(key, audit_rules.ChainKey):
        # Never fall back to unkeyed hashes: they are what someone with SQL access can forge.
        raise errors.ConfigError(
            "this database session has no audit key: make sessions with "
            "storage.engine.make_sessionmaker(engine, audit_key=...)"
        )
    return key


def build_rows(
    chain: str,
    head: tuple[int, str],
    events: Sequence[PendingEvent],
    now: datetime,
    *,
    key: audit_rules.ChainKey,
) -> tuple[list[dict[str, Any]], tuple[int, str]]:
    """Audit rows for events appended after `head`, signed with `key`, and the new head."""
    seq, prev = head
    rows = []
    for event in events:
        seq += 1
        digest = audit_rules.event_hash(
            chain=chain,
            seq=seq,
            prev_hash=prev,
            type=str(event.type),
            actor=event.actor,
            data=event.data,
            created_at=now,
            key=key.secret,
        )
        rows.append(
            {
                "chain": chain,
                "seq": seq,
                "item_id": event.item_id,
                "type": str(event.type),  # plain text for every driver
                "actor": event.actor,
                "data": event.data,
                "created_at": now,
                "prev_hash": prev,
                "hash": digest,
                "key_id": key.key_id,
            }
        )
        prev = digest
    return rows, (seq, prev)


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(sa.insert(t.audit_events), rows)


def append_system_event(
    session: Session,
    type: audit_rules.EventKind,
    actor: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    """Append to the chain of events not about one item (workflows, users, keys)."""
    dialect = session.get_bind().dialect.name
    query = sa.select(t.audit_chains.c.seq, t.audit_chains.c.hash).where(
        t.audit_chains.c.chain == SYSTEM_CHAIN
    )
    if dialect == "postgresql":
        session.execute(
            sa.text(
                "INSERT INTO audit_chains (chain, seq, hash) VALUES (:c, 0, '') "
                "ON CONFLICT (chain) DO NOTHING"
            ),
            {"c": SYSTEM_CHAIN},
        )
        query = query.with_for_update()
    row = session.execute(query).first()
    head = (row.seq, row.hash) if row else (0, audit_rules.GENESIS)
    rows, new_head = build_rows(
        SYSTEM_CHAIN, head, [PendingEvent(0, type, actor, data)], now, key=chain_key(session)
    )
    rows[0]["item_id"] = None
    insert_rows(session, rows)
    if row is None:
        session.execute(
            sa.insert(t.audit_chains).values(chain=SYSTEM_CHAIN, seq=new_head[0], hash=new_head[1])
        )
    else:
        session.execute(
            sa.update(t.audit_chains)
            .where(t.audit_chains.c.chain == SYSTEM_CHAIN)
            .values(seq=new_head[0], hash=new_head[1])
        )


def _stored(row: Any) -> audit_rules.StoredEvent:
    return audit_rules.StoredEvent(
        id=row.id,
        chain=row.chain,
        seq=row.seq,
        item_id=row.item_id,
        type=row.type,
        actor=row.actor,
        data=row.data,
        created_at=row.created_at,
        prev_hash=row.prev_hash,
        hash=row.hash,
        key_id=row.key_id,
    )


def list_item_events(session: Session, item_id: int) -> list[audit_rules.StoredEvent]:
    rows = session.execute(
        sa.select(t.audit_events)
        .where(t.audit_events.c.chain == audit_rules.item_chain(item_id))
        .order_by(t.audit_events.c.id)
    )
    return [_stored(r) for r in rows]


#: The checkpoint's heads during an incremental verification; per connection, never shared.
_anchors = sa.Table(
    "audit_verify_anchors",
    sa.MetaData(),
    sa.Column("chain", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def iter_chains(
    session: Session, batch: int = 5000, since: Mapping[str, int] | None = None
) -> Iterator[tuple[str, list[audit_rules.StoredEvent]]]:
    """Every chain with its events in id order, streamed chain by chain.

    With `since` (chain -> seq), a listed chain starts at that seq: the events before
    it are not read at all. Chains not listed come whole.
    """
    e = t.audit_events
    query = sa.select(e).order_by(e.c.chain, e.c.id)
    if since is None:
        yield from _group(session.execute(query.execution_options(yield_per=batch)))
        return
    connection = session.connection()
    _anchors.create(connection)
    try:
        rows = [{"chain": chain, "seq": seq} for chain, seq in since.items()]
        for start in range(0, len(rows), 10_000):
            connection.execute(sa.insert(_anchors), rows[start : start + 10_000])
        a = _anchors
        query = (
            sa.select(e)
            .select_from(e.outerjoin(a, a.c.chain == e.c.chain))
            .where(sa.or_(a.c.chain.is_(None), e.c.seq >= a.c.seq))
            .order_by(e.c.chain, e.c.id)
        )
        yield from _group(session.execute(query.execution_options(yield_per=batch)))
    finally:
        _anchors.drop(connection, checkfirst=True)


def _group(rows: Iterable[Any]) -> Iterator[tuple[str, list[audit_rules.StoredEvent]]]:
    current: str | None = None
    events: list[audit_rules.StoredEvent] = []
    for row in rows:
        if row.chain != current:
            if current is not None:
                yield current, events
            current, events = row.chain, []
        events.append(_stored(row))
    if current is not None:
        yield current, events


def read_heads(session: Session) -> dict[str, tuple[int, str]]:
    """Every chain's stored head: items' (audit_seq, audit_hash) and audit_chains rows."""
    heads = {
        audit_rules.item_chain(r.id): (r.audit_seq, r.audit_hash)
        for r in session.execute(sa.select(t.items.c.id, t.items.c.audit_seq, t.items.c.audit_hash))
    }
    for r in session.execute(sa.select(t.audit_chains)):
        heads[r.chain] = (r.seq, r.hash)
    return heads
