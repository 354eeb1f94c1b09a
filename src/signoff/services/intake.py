"""Submit items, one or a batch, with idempotency keys."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from signoff.domain import audit as audit_rules
from signoff.domain import compliance, errors, limits
from signoff.domain.states import ItemState
from signoff.services import orgs as org_service
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.storage import audit, engine, items


@dataclass(frozen=True)
class NewItem:
    content: dict[str, Any]
    external_id: str | None = None
    metadata: dict[str, Any] | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Submitted:
    item_id: int
    created: bool


def request_hash(item: NewItem) -> str:
    body = json.dumps(
        [item.content, item.external_id, item.metadata or {}], sort_keys=True, default=str
    )
    return hashlib.sha256(body.encode()).hexdigest()


# What every stored item must fit in: nested deeper, or larger, it is refused at intake,
# because deep structures broke reading the item (and every page of the list) back.
CONTENT_LIMITS = limits.StructureLimits(max_depth=32, max_nodes=100_000)


def check_item(item: NewItem, max_bytes: int, prefix: str = "") -> None:
    """Refuse an item that could be stored but not read back: too deep, too large, bad text."""
    if not isinstance(item.content, dict):
        raise errors.ValidationFailed(
            f"{prefix}content: must be a JSON object", field=f"{prefix}content"
        )
    for name, value in (
        ("external_id", item.external_id),
        ("idempotency_key", item.idempotency_key),
    ):
        if value is not None:
            limits.check_text(value, f"{prefix}{name}")
    limits.check_structure(item.content, f"{prefix}content", CONTENT_LIMITS)
    if item.metadata is not None:
        limits.check_structure(item.metadata, f"{prefix}metadata", CONTENT_LIMITS)
    size = len(json.dumps([item.content, item.metadata], ensure_ascii=False, default=str).encode())
    if size > max_bytes:
        raise errors.PayloadTooLarge(
            f"{prefix}content: the item is {size} bytes as JSON; the limit "
            f"(limits.max_item_bytes) is {max_bytes}",
            field=f"{prefix}content",
        )


def submit_item(ctx: Context, workflow: str, item: NewItem, actor: str) -> Submitted:
    """Accept one item; the same idempotency key and body returns the first item."""
    check_item(item, ctx.settings.limits.max_item_bytes)
    return submit_items(ctx, workflow, [item], actor, checked=True)[0]


def submit_items(
    ctx: Context, workflow: str, new_items: list[NewItem], actor: str, *, checked: bool = False
) -> list[Submitted]:
    """Accept many items in one transaction (all or nothing: one bad item refuses the batch)."""
    if not checked:
        for index, item in enumerate(new_items):
            check_item(item, ctx.settings.limits.max_item_bytes, prefix=f"items.{index}.")
    view = workflow_service.get_workflow(ctx, workflow)
    if view.pause is not None and view.pause.mode is compliance.PauseMode.REFUSE:
        raise errors.WorkflowPaused(
            f"workflow {view.name!r} is paused"
            + (f": {view.pause.reason}" if view.pause.reason else "")
            + "; it accepts no items until an admin resumes it",
            paused={"workflow": view.name, **view.pause.public()},
        )
    now = ctx.clock.now()
    # Only a keyed request can be replayed, so only its body needs a fingerprint.
    hashes = [request_hash(i) if i.idempotency_key else None for i in new_items]
    keys = [i.idempotency_key for i in new_items if i.idempotency_key]
    if len(set(keys)) != len(keys):
        raise errors.ValidationFailed("idempotency keys repeat within the batch")
    try:
        with engine.transaction(ctx.sessions) as session:
            return _insert(
                session, view.id, view.version, new_items, hashes, keys, actor, now, quota=ctx
            )
    except sa.exc.IntegrityError:
        # A concurrent request with the same key won the race: answer as a replay.
        with engine.transaction(ctx.sessions) as session:
            return _insert(
                session, view.id, view.version, new_items, hashes, keys, actor, now, quota=ctx
            )


def _insert(
    session: Any,
    workflow_id: int,
    version: int,
    new_items: list[NewItem],
    hashes: list[str | None],
    keys: list[str],
    actor: str,
    now: Any,
    *,
    quota: Context | None = None,
    gold_labels: list[str] | None = None,
) -> list[Submitted]:
    """Insert the new items with their `received` events; `quota` (the application's
    intake, not gold) holds the workflow's org to its limits."""
    existing = items.list_items_by_idempotency_keys(session, workflow_id, keys) if keys else {}
    results: list[Submitted | None] = [None] * len(new_items)
    rows: list[dict[str, Any]] = []
    positions: list[int] = []
    for index, (item, digest) in enumerate(zip(new_items, hashes, strict=True)):
        if item.idempotency_key and item.idempotency_key in existing:
            prior = existing[item.idempotency_key]
            if prior.request_hash != digest:
                raise errors.IdempotencyConflict(
                    f"Idempotency-Key {item.idempotency_key!r} was already used with a "
                    "different body",
                    item_id=prior.id,
                )
            results[index] = Submitted(int(prior.id), created=False)
            continue
        positions.append(index)
        rows.append(
            {
                "workflow_id": workflow_id,
                "workflow_version": version,
                "external_id": item.external_id,
                "content": item.content,
                "content_hash": compliance.content_hash(item.content),
                "metadata": item.metadata or {},
                "state": ItemState.RECEIVED.value,
                "idempotency_key": item.idempotency_key,
                "request_hash": digest,
                "created_at": now,
                "updated_at": now,
                "attempts": 0,
                "audit_seq": 0,
                "audit_hash": "",
                "gold_label": gold_labels[index] if gold_labels else None,
            }
        )
    if rows:
        if quota is not None:
            # Replays above cost nothing; only new items count against the org's quota.
            org_service.check_intake(session, quota, workflow_id, len(rows), now)
        ids = items.allocate_ids(session, len(rows))
        events: list[dict[str, Any]] = []
        key = audit.chain_key(session)
        for row, item_id, pos in zip(rows, ids, positions, strict=True):
            received = audit.PendingEvent(
                item_id,
                audit_rules.EventKind.RECEIVED,
                actor,
                {"workflow_version": version, "external_id": new_items[pos].external_id},
            )
            chain_rows, head = audit.build_rows(
                audit_rules.item_chain(item_id), (0, audit_rules.GENESIS), [received], now, key=key
            )
            row["id"] = item_id
            row["audit_seq"], row["audit_hash"] = head
            events.extend(chain_rows)
            results[pos] = Submitted(item_id, created=True)
        items.create_items(session, rows)
        audit.insert_rows(session, events)
    return [r for r in results if r is not None]


def insert_gold_items(
    session: Any,
    workflow_id: int,
    version: int,
    entries: list[tuple[dict[str, Any], dict[str, Any], str | None, str]],
    actor: str,
    now: Any,
) -> list[int]:
    """Put gold items (content, metadata, external id, known label) in the queue as ordinary
    received items, in the caller's transaction; they go through the AI step like any other.
    """
    new_items = [NewItem(content=c, metadata=m, external_id=x) for c, m, x, _label in entries]
    submitted = _insert(
        session,
        workflow_id,
        version,
        new_items,
        [None] * len(new_items),
        [],
        actor,
        now,
        gold_labels=[label for _c, _m, _x, label in entries],
    )
    return [s.item_id for s in submitted]
