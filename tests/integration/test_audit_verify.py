"""`signoff audit verify` against a real trail, then against one tampered with in SQL.

The trail is written through the services (intake, the AI step, a reviewer's
decision); the tampering goes straight to the database, as an insider with SQL
access would; the check runs as the real CLI in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from signoff.domain.states import Role
from signoff.services import audit as audit_service
from signoff.services import intake, processing, review, users
from signoff.services import items as item_service
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.storage import tables as t
from tests.conftest import FAKE_WORKFLOW

ev = t.audit_events


@dataclass(frozen=True)
class Trail:
    """A small, finished audit trail: one auto-decided item, one decided by a reviewer."""

    auto_item: int
    human_item: int


def _signoff() -> list[str]:
    script = Path(sys.executable).parent / "signoff"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from signoff.cli import main; main()"]


def _verify(db_url: str) -> tuple[int, str]:
    """Run `signoff audit verify`; the exit code and stdout+stderr with whitespace collapsed."""
    env = {
        **os.environ,
        "SIGNOFF_DATABASE_URL": db_url,
        "SIGNOFF_ENVIRONMENT": "development",
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [*_signoff(), "audit", "verify"], env=env, capture_output=True, text=True, timeout=60
    )
    output = " ".join((result.stdout + "\n" + result.stderr).split())
    assert "Traceback" not in output, output
    return result.returncode, output


@pytest.fixture
def trail(ctx: Context) -> Trail:
    # The workflow comes first, so workflow_applied is seq 1 of the system chain.
    workflow_service.apply_workflow(ctx, FAKE_WORKFLOW, "cli")
    reviewer_id = users.add_user(ctx, "reviewer@example.com", Role.REVIEWER)
    users.create_key(ctx, "app", None)
    submitted = intake.submit_items(
        ctx,
        "docs",
        [
            intake.NewItem({"text": "Invoice 1", "label": "invoice", "confidence": 0.95}),
            intake.NewItem({"text": "Invoice 2", "label": "invoice", "confidence": 0.5}),
        ],
        "key:1",
    )
    assert processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 10) == 2
    principal = users.principal_for_user(ctx, reviewer_id)
    assert principal is not None
    task = review.claim_next_task(ctx, principal)
    assert task is not None and task.item_id == submitted[1].item_id
    review.decide(ctx, principal, task.id, review.DecisionInput(outcome="approved", comment="ok"))
    found = Trail(submitted[0].item_id, submitted[1].item_id)
    assert _types(ctx, f"item:{found.human_item}") == [
        "received",
        "claimed",
        "routed_to_review",
        "assigned",
        "decided",
    ]
    assert _types(ctx, f"item:{found.auto_item}") == ["received", "claimed", "auto_decided"]
    assert _types(ctx, "system")[0] == "workflow_applied"
    return found


def _types(ctx: Context, chain: str) -> list[str]:
    with ctx.sessions() as session:
        return list(
            session.execute(
                sa.select(ev.c.type).where(ev.c.chain == chain).order_by(ev.c.seq)
            ).scalars()
        )


def _event(ctx: Context, chain: str, seq: int) -> sa.Row:  # type: ignore[type-arg]
    with ctx.sessions() as session:
        row = session.execute(sa.select(ev).where(ev.c.chain == chain, ev.c.seq == seq)).first()
    assert row is not None, (chain, seq)
    return row


def _sql(ctx: Context, *statements: sa.Executable) -> None:
    """Run statements in one transaction, bypassing every service."""
    with ctx.engine.begin() as connection:
        for statement in statements:
            connection.execute(statement)


def _assert_intact(ctx: Context) -> None:
    """The trail verifies before the tampering (in-process: the CLI's exit 0 has its own test)."""
    checked, problems = audit_service.verify_all(ctx)
    assert checked > 0 and problems == [], [p.describe() for p in problems]


def _assert_tampered(db_url: str, *expected: str) -> str:
    code, output = _verify(db_url)
    assert code != 0, output
    assert "TAMPERED" in output, output
    for text in expected:
        assert text in output, f"{text!r} not in: {output}"
    assert "1 problem(s)" in output, output
    return output


def test_untouched_trail_verifies_with_exit_code_zero(
    ctx: Context, trail: Trail, db_url: str
) -> None:
    with ctx.sessions() as session:
        total = session.execute(sa.select(sa.func.count()).select_from(ev)).scalar_one()
    code, output = _verify(db_url)
    assert code == 0, output
    assert f"audit trail verified: {total} events, every chain intact" in output


def test_modified_event_data_is_reported_with_its_item_and_event(
    ctx: Context, trail: Trail, db_url: str
) -> None:
    _assert_intact(ctx)
    decided = _event(ctx, f"item:{trail.human_item}", 5)
    assert decided.type == "decided"
    _sql(
        ctx,
        sa.update(ev)
        .where(ev.c.id == decided.id)
        .values(data={**decided.data, "outcome": "rejected"}),
    )
    _assert_tampered(
        db_url, f"item {trail.human_item} event {decided.id} (seq 5)", "event was modified"
    )


def test_modified_event_actor_is_reported_with_its_item_and_event(
    ctx: Context, trail: Trail, db_url: str
) -> None:
    _assert_intact(ctx)
    routed = _event(ctx, f"item:{trail.human_item}", 3)
    _sql(ctx, sa.update(ev).where(ev.c.id == routed.id).values(actor="user:someone@else.com"))
    _assert_tampered(
        db_url, f"item {trail.human_item} event {routed.id} (seq 3)", "event was modified"
    )


def test_modified_auto_decision_is_reported_with_its_item_and_event(
    ctx: Context, trail: Trail, db_url: str
) -> None:
    _assert_intact(ctx)
    auto = _event(ctx, f"item:{trail.auto_item}", 3)
    assert auto.type == "auto_decided"
    _sql(
        ctx, sa.update(ev).where(ev.c.id == auto.id).values(data={**auto.data, "confidence": 0.99})
    )
    _assert_tampered(
        db_url, f"item {trail.auto_item} event {auto.id} (seq 3)", "event was modified"
    )


def test_event_deleted_from_the_middle_of_a_chain_is_reported(
    ctx: Context, trail: Trail, db_url: str
) -> None:
    _assert_intact(ctx)
    chain = f"item:{trail.human_item}"
    middle = _event(ctx, chain, 3)
    following = _event(ctx, chain, 4)
    _sql(ctx, sa.delete(ev).where(ev.c.id == middle.id))
    _assert_tampered(
        db_url, f"item {trail.human_item} event {following.id} (seq 4)", "expected seq 3"
    )


def test_last_event_deleted_from_a_chain_is_reported(
    ctx: Context, trail: Trail, db_url: str
) -> None:
    _assert_intact(ctx)
    chain = f"item:{trail.human_item}"
    last = _event(ctx, chain, 5)
    _sql(ctx, sa.delete(ev).where(ev.c.id == last.id))
    # The deleted event is gone; the stored head still names its seq.
    _assert_tampered(db_url, f"item {trail.human_item}", "chain ends at seq 4", "head says seq 5")


def test_every_event_of_an_item_deleted_is_reported(
    ctx: Context, trail: Trail, db_url: str
) -> None:
    _assert_intact(ctx)
    _sql(ctx, sa.delete(ev).where(ev.c.chain == f"item:{trail.auto_item}"))
    _assert_tampered(db_url, f"item {trail.auto_item}", "all 3 events are missing")


def test_item_row_deleted_with_its_last_event_is_reported(
    ctx: Context, trail: Trail, db_url: str
) -> None:
    """Without the item row there is no stored head to compare the shortened chain with."""
    _assert_intact(ctx)
    _sql(
        ctx,
        sa.delete(t.outbox).where(t.outbox.c.item_id == trail.auto_item),
        sa.delete(t.items).where(t.items.c.id == trail.auto_item),
        sa.delete(ev).where(ev.c.chain == f"item:{trail.auto_item}", ev.c.seq == 3),
    )
    _assert_tampered(db_url, f"item {trail.auto_item}", "item row is missing")


def test_system_chain_head_deleted_with_the_last_system_event_is_reported(
    ctx: Context, trail: Trail, db_url: str
) -> None:
    _assert_intact(ctx)
    last_seq = len(_types(ctx, "system"))
    _sql(
        ctx,
        sa.delete(t.audit_chains).where(t.audit_chains.c.chain == "system"),
        sa.delete(ev).where(ev.c.chain == "system", ev.c.seq == last_seq),
    )
    _assert_tampered(db_url, "system", "chain head is missing")


def test_two_events_with_swapped_seq_values_are_reported(
    ctx: Context, trail: Trail, db_url: str
) -> None:
    _assert_intact(ctx)
    chain = f"item:{trail.human_item}"
    second, third = _event(ctx, chain, 2), _event(ctx, chain, 3)
    # Three steps, because (chain, seq) is unique.
    _sql(
        ctx,
        sa.update(ev).where(ev.c.id == second.id).values(seq=-1),
        sa.update(ev).where(ev.c.id == third.id).values(seq=2),
        sa.update(ev).where(ev.c.id == second.id).values(seq=3),
    )
    _assert_tampered(db_url, f"item {trail.human_item} event {second.id} (seq 3)", "expected seq 2")


def test_two_events_with_swapped_contents_are_reported(
    ctx: Context, trail: Trail, db_url: str
) -> None:
    """Reordering by id: each row keeps its seq, the payloads trade places."""
    _assert_intact(ctx)
    chain = f"item:{trail.human_item}"
    second, third = _event(ctx, chain, 2), _event(ctx, chain, 3)
    fields = ("type", "actor", "data", "created_at", "prev_hash", "hash")
    _sql(
        ctx,
        sa.update(ev).where(ev.c.id == second.id).values({f: getattr(third, f) for f in fields}),
        sa.update(ev).where(ev.c.id == third.id).values({f: getattr(second, f) for f in fields}),
    )
    _assert_tampered(db_url, f"item {trail.human_item} event {second.id} (seq 2)")


def test_two_events_with_swapped_ids_are_reported(ctx: Context, trail: Trail, db_url: str) -> None:
    """Reordering by id, the other way: whole rows trade ids."""
    _assert_intact(ctx)
    chain = f"item:{trail.human_item}"
    second, third = _event(ctx, chain, 2), _event(ctx, chain, 3)
    with ctx.sessions() as session:
        spare = session.execute(sa.select(sa.func.max(ev.c.id))).scalar_one() + 1000
    _sql(
        ctx,
        sa.update(ev).where(ev.c.id == second.id).values(id=spare),
        sa.update(ev).where(ev.c.id == third.id).values(id=second.id),
        sa.update(ev).where(ev.c.id == spare).values(id=third.id),
    )
    # The row now first in id order carries seq 3 where seq 2 belongs.
    _assert_tampered(db_url, f"item {trail.human_item} event {second.id} (seq 3)", "expected seq 2")


def test_deleted_workflow_applied_event_in_the_system_chain_is_reported(
    ctx: Context, trail: Trail, db_url: str
) -> None:
    _assert_intact(ctx)
    applied = _event(ctx, "system", 1)
    assert applied.type == "workflow_applied"
    following = _event(ctx, "system", 2)
    _sql(ctx, sa.delete(ev).where(ev.c.id == applied.id))
    _assert_tampered(db_url, f"system event {following.id} (seq 2)", "expected seq 1")


def test_last_system_event_deleted_is_reported(ctx: Context, trail: Trail, db_url: str) -> None:
    _assert_intact(ctx)
    last_seq = len(_types(ctx, "system"))
    _sql(ctx, sa.delete(ev).where(ev.c.chain == "system", ev.c.seq == last_seq))
    _assert_tampered(
        db_url, "system", f"chain ends at seq {last_seq - 1}", f"head says seq {last_seq}"
    )


def test_verify_while_items_are_being_written_reports_no_problems(
    ctx: Context, trail: Trail, db_url: str
) -> None:
    """`audit verify` on a live system: heads and events must come from one snapshot."""
    principal = users.Principal(None, None, Role.ADMIN, None, 1)
    stop = threading.Event()
    written = 0

    def write() -> None:
        nonlocal written
        while not stop.is_set():
            item_service.record_view(ctx, principal, trail.human_item)
            intake.submit_item(ctx, "docs", intake.NewItem({"text": "more"}), "key:1")
            written += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        runs = [audit_service.verify_all(ctx) for _ in range(15)]
    finally:
        stop.set()
        writer.join(10)
    assert written > 0
    for _, problems in runs:
        assert problems == [], [p.describe() for p in problems]
