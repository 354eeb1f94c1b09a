"""The invariant checker every fault scenario ends with.

It reads the deployment's database (SQLAlchemy on its URL), the HTTP traffic the
scenario recorded (`traffic.Traffic`) and the webhooks received (`traffic.Receiver`),
and returns every broken invariant as a sentence naming the item, task or request:

1. every acknowledged item (a 2xx on intake) exists, once per idempotency key, and is
   decided exactly once, or is still open with a live lease or an open task;
2. one decision per task, one outcome per item, no task held by two reviewers;
3. every state change has its audit event (the chain replays to the item's state
   through allowed transitions only) and every chain verifies (signoff's own verify);
4. every decision caused one webhook, delivered at least once with one stable
   `webhook-id` across retries; nothing waits in the outbox without a reason;
5. no 500 was served; every 503 carries `Retry-After`.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from signoff.domain import states
from signoff.services import audit as audit_service
from signoff.services.context import Context, create_context
from signoff.storage import tables as t
from tests.conftest import make_settings
from tests.faults import traffic as wire

S = states.ItemState
#: The state each state-changing audit event leaves its item in (decisions: the outcome's).
EVENT_STATE: dict[str, S | None] = {
    "received": S.RECEIVED,
    "claimed": S.PROCESSING,
    "lease_recovered": S.PROCESSING,
    "routed_to_review": S.IN_REVIEW,
    "auto_decided": None,
    "decided": None,
    "cancelled": S.CANCELLED,
    "archived": S.ARCHIVED,
}
DECISION_EVENTS = ("auto_decided", "decided")
_SUBMIT = re.compile(r"^/api/v1/workflows/([^/]+)/items(/batch)?$")


class InvariantBroken(AssertionError):
    """One or more invariants do not hold; the message lists each."""


@dataclass(frozen=True)
class Expect:
    """What the scenario's end state must be.

    `settled`: no item may wait for a worker (received or processing); items in review
    are fine (a person has not looked yet). `delivered`: every webhook was sent (the
    receiver is up at the end); otherwise pending messages must give a reason.
    """

    settled: bool = True
    delivered: bool = True


def check(
    url: str,
    traffic: wire.Traffic | None = None,
    receiver: wire.Receiver | None = None,
    expect: Expect = Expect(),
    ctx: Context | None = None,
    secret_key: str | None = None,
) -> list[str]:
    """Every broken invariant, as one sentence each (empty: all hold).

    `ctx`: a context on the same database to verify the audit chains with (one is made
    and closed when not given, with `secret_key`: the audit key derives from the secret
    key of the processes that wrote the chains).
    """
    exchanges = traffic.snapshot() if traffic is not None else []
    deliveries = receiver.snapshot() if receiver is not None else None
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            snapshot = _Snapshot.read(conn)
    finally:
        engine.dispose()
    problems: list[str] = []
    problems += _served(exchanges)
    problems += _acknowledged(exchanges, snapshot)
    problems += _items(snapshot, expect)
    problems += _tasks(snapshot, exchanges)
    problems += _outbox(snapshot, deliveries, expect)
    problems += _verified(url, ctx, secret_key)
    return problems


def assert_holds(
    url: str,
    traffic: wire.Traffic | None = None,
    receiver: wire.Receiver | None = None,
    expect: Expect = Expect(),
    ctx: Context | None = None,
    secret_key: str | None = None,
) -> None:
    """Fail with every broken invariant listed."""
    problems = check(url, traffic, receiver, expect, ctx, secret_key)
    if problems:
        shown = "\n".join(f"  - {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise InvariantBroken(f"{len(problems)} invariant(s) broken:\n{shown}{more}")


@dataclass
class _Snapshot:
    items: dict[int, Any]
    events: dict[int, list[Any]]
    tasks: dict[int, list[Any]]
    outbox: dict[int, list[Any]]
    webhook_versions: set[tuple[int, int]]
    workflow_names: dict[str, int]
    users: dict[str, int]

    @classmethod
    def read(cls, conn: sa.Connection) -> _Snapshot:
        # One snapshot on PostgreSQL, so a live system's moving rows do not look torn.
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            items = {r.id: r for r in conn.execute(sa.select(t.items))}
            events: dict[int, list[Any]] = defaultdict(list)
            for r in conn.execute(
                sa.select(t.audit_events)
                .where(t.audit_events.c.item_id.is_not(None))
                .order_by(t.audit_events.c.item_id, t.audit_events.c.seq)
            ):
                events[r.item_id].append(r)
            tasks: dict[int, list[Any]] = defaultdict(list)
            for r in conn.execute(sa.select(t.review_tasks).order_by(t.review_tasks.c.id)):
                tasks[r.item_id].append(r)
            outbox: dict[int, list[Any]] = defaultdict(list)
            for r in conn.execute(sa.select(t.outbox).order_by(t.outbox.c.id)):
                outbox[r.item_id if r.item_id is not None else -1].append(r)
            webhook_versions = {
                (r.workflow_id, r.version)
                for r in conn.execute(sa.select(t.workflow_versions))
                if ((r.spec or {}).get("delivery") or {}).get("webhook_url")
            }
            workflow_names = {r.name: r.id for r in conn.execute(sa.select(t.workflows))}
            users = {r.email: r.id for r in conn.execute(sa.select(t.users))}
        return cls(items, events, tasks, outbox, webhook_versions, workflow_names, users)


def _served(exchanges: Sequence[wire.Exchange]) -> list[str]:
    problems = []
    for x in exchanges:
        if x.status is None or x.status < 500:
            continue
        if x.status != 503:
            problems.append(f"{x.method} {x.path} answered {x.status}: {x.body!r:.200}")
        elif "retry-after" not in x.headers:
            problems.append(f"{x.method} {x.path} answered 503 without Retry-After")
    return problems


def _acknowledged(exchanges: Sequence[wire.Exchange], snap: _Snapshot) -> list[str]:
    """Every 2xx on intake names an item that exists; one item per idempotency key."""
    problems = []
    by_key: dict[tuple[str, str], set[int]] = defaultdict(set)
    for x in exchanges:
        match = _SUBMIT.match(x.path)
        if x.method != "POST" or match is None or x.status is None or not 200 <= x.status < 300:
            continue
        workflow = match.group(1)
        acknowledged: list[tuple[int, str | None]] = []
        if match.group(2):
            sent = (x.request or {}).get("items") or []
            got = (x.body or {}).get("items") or []
            if len(got) != len(sent):
                problems.append(f"batch intake acknowledged {len(got)} of {len(sent)} items")
            for one, answer in zip(sent, got, strict=False):
                acknowledged.append((int(answer["id"]), one.get("idempotency_key")))
        else:
            key = x.idempotency_key or (x.request or {}).get("idempotency_key")
            acknowledged.append((int(x.body["id"]), key))
        for item_id, key in acknowledged:
            row = snap.items.get(item_id)
            if row is None:
                problems.append(f"item {item_id} was acknowledged ({x.status}) but does not exist")
                continue
            if snap.workflow_names.get(workflow) != row.workflow_id:
                problems.append(f"item {item_id} was acknowledged on {workflow} but is elsewhere")
            if key is not None:
                by_key[(workflow, key)].add(item_id)
    for (workflow, key), ids in by_key.items():
        if len(ids) > 1:
            problems.append(f"Idempotency-Key {key!r} on {workflow} acknowledged items {ids}")
    return problems


def _replay(item_id: int, row: Any, events: list[Any]) -> tuple[S | None, list[str]]:
    """The state an item's audit chain leads to, and any step the table forbids."""
    problems = []
    seqs = [e.seq for e in events]
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"item {item_id}: audit seqs {seqs} have gaps")
    if row.audit_seq != (seqs[-1] if seqs else 0):
        problems.append(f"item {item_id}: head at seq {row.audit_seq}, chain ends at {seqs[-1:]}")
    current: S | None = None
    for e in events:
        if e.type not in EVENT_STATE:
            continue
        target = EVENT_STATE[e.type]
        if target is None:
            outcome = (e.data or {}).get("outcome")
            target = S.REJECTED if outcome == "rejected" else S.APPROVED
            if outcome not in ("approved", "rejected"):
                # A workflow's own outcome maps to approved/rejected; trust the item row.
                target = S(row.state) if row.state in ("approved", "rejected") else S.APPROVED
        if current is None:
            if target is not S.RECEIVED:
                problems.append(f"item {item_id}: chain starts with {e.type}, not received")
        elif not states.is_allowed(current, target):
            problems.append(
                f"item {item_id}: event {e.seq} {e.type} moves {current.value} -> {target.value}"
            )
        current = target
    return current, problems


def _items(snap: _Snapshot, expect: Expect) -> list[str]:
    problems = []
    for item_id, row in snap.items.items():
        events = snap.events.get(item_id, [])
        replayed, steps = _replay(item_id, row, events)
        problems += steps
        if replayed is None or replayed.value != row.state:
            problems.append(
                f"item {item_id} is {row.state} but its audit chain says "
                f"{replayed.value if replayed else 'nothing'}"
            )
        decisions = [e for e in events if e.type in DECISION_EVENTS]
        decided = row.state in ("approved", "rejected", "archived")
        if decided and len(decisions) != 1:
            problems.append(f"item {item_id} ({row.state}) has {len(decisions)} decision events")
        if not decided and decisions and row.state != "cancelled":
            problems.append(f"item {item_id} ({row.state}) has a decision event")
        if decided and (row.outcome is None or row.decided_at is None):
            problems.append(f"item {item_id} ({row.state}) has no outcome on its row")
        if row.state == "cancelled" and len(decisions) > 0:
            problems.append(f"item {item_id} was cancelled after a decision")
        open_tasks = [k for k in snap.tasks.get(item_id, []) if k.status in ("open", "assigned")]
        if row.state == "processing" and row.lease_owner is None:
            problems.append(f"item {item_id} is processing with no lease owner")
        if row.state == "in_review" and len(open_tasks) != 1:
            problems.append(f"item {item_id} is in review with {len(open_tasks)} open tasks")
        if row.state != "in_review" and open_tasks:
            problems.append(f"item {item_id} is {row.state} yet task {open_tasks[0].id} is open")
        if expect.settled and row.state in ("received", "processing"):
            problems.append(f"item {item_id} is still {row.state}: nobody finished its AI step")
    return problems


def _tasks(snap: _Snapshot, exchanges: Sequence[wire.Exchange]) -> list[str]:
    """One decision per task and item; a task held by one reviewer at a time."""
    problems = []
    for item_id, item_tasks in snap.tasks.items():
        row = snap.items.get(item_id)
        decided = [k for k in item_tasks if k.status == "decided"]
        if len(decided) > 1:
            problems.append(f"item {item_id} has {len(decided)} decided tasks")
        for k in decided:
            if k.outcome is None or k.decided_at is None:
                problems.append(f"task {k.id} is decided without an outcome")
            if row is not None and row.outcome != k.outcome and row.state != "archived":
                problems.append(f"task {k.id} decided {k.outcome}, item {item_id} {row.outcome}")
        # Holds from the audit trail: an `assigned` while another reviewer holds the task
        # must say whose hold lapsed.
        holder: dict[Any, str] = {}
        for e in snap.events.get(item_id, []):
            task_id = (e.data or {}).get("task_id")
            if e.type == "assigned":
                previous = holder.get(task_id)
                lapsed = (e.data or {}).get("lapsed_hold_of")
                if previous is not None and previous != e.actor and lapsed is None:
                    problems.append(f"task {task_id} held by {previous} and {e.actor} at once")
                holder[task_id] = e.actor
            elif e.type in ("released", "decided"):
                holder.pop(task_id, None)
    # What the reviewers were told: at most one successful decision per task, and a
    # claim answered 200 to two reviewers at once only if the first hold lapsed.
    ok_decisions = Counter(
        x.path
        for x in exchanges
        if x.method == "POST" and x.path.endswith("/decision") and x.status == 200
    )
    for path, count in ok_decisions.items():
        if count > 1:
            problems.append(f"{path} answered 200 {count} times")
    return problems


def _outbox(snap: _Snapshot, deliveries: list[wire.Delivery] | None, expect: Expect) -> list[str]:
    problems = []
    by_id: dict[str, list[wire.Delivery]] = defaultdict(list)
    for d in deliveries or []:
        by_id[d.webhook_id].append(d)
    for item_id, row in snap.items.items():
        decisions = [e for e in snap.events.get(item_id, []) if e.type in DECISION_EVENTS]
        hooks = [m for m in snap.outbox.get(item_id, []) if m.kind == "webhook"]
        wants = bool(decisions) and (row.workflow_id, row.workflow_version) in (
            snap.webhook_versions
        )
        if wants and len(hooks) != 1:
            problems.append(f"item {item_id} was decided; it has {len(hooks)} webhook messages")
        if not decisions and hooks:
            problems.append(f"item {item_id} has a webhook but no decision")
        for m in hooks:
            problems += _message(item_id, m, by_id.get(m.message_id, []), deliveries, expect)
    if deliveries is not None:
        known = {m.message_id for ms in snap.outbox.values() for m in ms}
        for webhook_id in by_id:
            if webhook_id not in known:
                problems.append(f"the receiver got webhook-id {webhook_id!r} nobody sent")
        # A stable webhook-id: all deliveries about one item's decision carry one id.
        ids_per_item: dict[Any, set[str]] = defaultdict(set)
        for d in deliveries:
            item = ((d.payload or {}).get("data") or {}).get("item_id")
            ids_per_item[item].add(d.webhook_id)
        for item, ids in ids_per_item.items():
            if len(ids) > 1:
                problems.append(f"item {item}'s decision arrived under webhook-ids {sorted(ids)}")
    return problems


def _message(
    item_id: int,
    m: Any,
    arrived: list[wire.Delivery],
    deliveries: list[wire.Delivery] | None,
    expect: Expect,
) -> list[str]:
    problems = []
    if m.status == "dead" and not m.last_error:
        problems.append(f"webhook {m.message_id} (item {item_id}) is dead without a reason")
    if m.status == "pending" and m.attempts > 0 and not m.last_error:
        problems.append(f"webhook {m.message_id} (item {item_id}) waits without a reason")
    if expect.delivered and m.status != "sent":
        problems.append(
            f"webhook {m.message_id} (item {item_id}) is {m.status} after {m.attempts} "
            f"attempts: {m.last_error}"
        )
    if deliveries is None:
        return problems
    if m.status == "sent" and not any(
        d.status is not None and 200 <= d.status < 300 for d in arrived
    ):
        problems.append(f"webhook {m.message_id} (item {item_id}) is sent; no 2xx delivery seen")
    for d in arrived:
        if d.payload != m.payload:
            problems.append(f"webhook {m.message_id} arrived with a different body")
            break
    return problems


def _verified(url: str, ctx: Context | None, secret_key: str | None) -> list[str]:
    if ctx is not None:
        _checked, found = audit_service.verify_all(ctx)
    else:
        overrides = {"secret_key": secret_key} if secret_key else {}
        own = create_context(make_settings(url, **overrides))
        try:
            _checked, found = audit_service.verify_all(own)
        finally:
            own.close()
    return [f"audit verify: {p.describe()}" for p in found]


def acknowledged_ids(exchanges: Iterable[wire.Exchange]) -> set[int]:
    """The ids of every item a 2xx on intake acknowledged."""
    ids: set[int] = set()
    for x in exchanges:
        match = _SUBMIT.match(x.path)
        if x.method != "POST" or match is None or x.status is None or not 200 <= x.status < 300:
            continue
        if match.group(2):
            ids.update(int(a["id"]) for a in (x.body or {}).get("items") or [])
        else:
            ids.add(int(x.body["id"]))
    return ids
