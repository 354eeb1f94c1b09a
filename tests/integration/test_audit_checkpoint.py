"""Keyed chains and signed checkpoints, against rewrites made straight in SQL.

An insider who can run SQL (and, in the worst case, also knows the server's audit key)
rewrites a whole chain with recomputed hashes and a matching head: plain
`signoff audit verify` cannot tell, a checkpoint signed before the rewrite can. The
checks run as the real CLI in a subprocess where the exit code matters.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from signoff.domain import audit as audit_rules
from signoff.domain import errors
from signoff.domain.states import Role
from signoff.services import audit as audit_service
from signoff.services import intake, processing, users
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.storage import tables as t
from tests.conftest import FAKE_WORKFLOW, make_settings

ev = t.audit_events


def _signoff() -> list[str]:
    script = Path(sys.executable).parent / "signoff"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from signoff.cli import main; main()"]


def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = subprocess.run(
        [*_signoff(), *args],
        env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = " ".join((result.stdout + "\n" + result.stderr).split())
    assert "Traceback" not in output, output
    return result.returncode, output


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "checkpoint.pem"
    path.parent.mkdir()
    code, output = _cli({}, "audit", "keygen", "--output", str(path))
    assert code == 0, output
    return path


@pytest.fixture
def env(db_url: str, key_file: Path) -> dict[str, str]:
    return {
        "SIGNOFF_DATABASE_URL": db_url,
        "SIGNOFF_ENVIRONMENT": "development",
        "SIGNOFF_AUDIT__SIGNING_KEY_FILE": str(key_file),
    }


@pytest.fixture
def actx(db_url: str, key_file: Path) -> Iterator[Context]:
    context = create_context(make_settings(db_url, audit={"signing_key_file": str(key_file)}))
    yield context
    context.close()


@pytest.fixture
def item_ids(actx: Context) -> list[int]:
    """Two decided-by-AI or routed items and a few system events, written by the services."""
    workflow_service.apply_workflow(actx, FAKE_WORKFLOW, "cli")
    users.add_user(actx, "reviewer@example.com", Role.REVIEWER)
    submitted = intake.submit_items(
        actx,
        "docs",
        [
            intake.NewItem({"text": "Invoice 1", "label": "invoice", "confidence": 0.95}),
            intake.NewItem({"text": "Invoice 2", "label": "invoice", "confidence": 0.5}),
        ],
        "key:1",
    )
    assert processing.process_batch(actx, "w1", processing.ProviderCache(actx), 10) == 2
    return [s.item_id for s in submitted]


def _checkpoint(env: dict[str, str], path: Path) -> str:
    code, output = _cli(env, "audit", "checkpoint", "--output", str(path))
    assert code == 0, output
    return output


def _rewrite(
    ctx: Context,
    chain: str,
    change: Callable[[Any], dict[str, Any]],
    key: audit_rules.ChainKey | None,
) -> None:
    """Rewrite every event of `chain` with `change`, recompute every hash and the head.

    `key` None writes legacy SHA-256 events (someone without the audit key); a key
    writes HMACs (someone who also has the server's key).
    """
    with ctx.engine.begin() as connection:
        rows = connection.execute(sa.select(ev).where(ev.c.chain == chain).order_by(ev.c.seq))
        prev = audit_rules.GENESIS
        seq = 0
        for row in list(rows):
            values = {
                "type": row.type,
                "actor": row.actor,
                "data": row.data,
                "created_at": row.created_at,
                **change(row),
            }
            digest = audit_rules.event_hash(
                chain=chain,
                seq=row.seq,
                prev_hash=prev,
                key=key.secret if key else None,
                **values,
            )
            connection.execute(
                sa.update(ev)
                .where(ev.c.id == row.id)
                .values(**values, prev_hash=prev, hash=digest, key_id=key.key_id if key else None)
            )
            prev, seq = digest, row.seq
        if chain.startswith("item:"):
            item_id = int(chain.split(":")[1])
            connection.execute(
                sa.update(t.items).where(t.items.c.id == item_id).values(audit_hash=prev)
            )
        else:
            connection.execute(
                sa.update(t.audit_chains).where(t.audit_chains.c.chain == chain).values(hash=prev)
            )
    assert seq > 0


def _forge_outcome(row: Any) -> dict[str, Any]:
    if row.type == "auto_decided":
        return {"data": {**row.data, "label": "contract"}}
    return {"actor": "user:insider@example.com"}


def test_keygen_writes_a_private_key_only_its_owner_may_read_and_never_overwrites(
    tmp_path: Path,
) -> None:
    path = tmp_path / "signer.pem"
    code, output = _cli({}, "audit", "keygen", "--output", str(path))
    assert code == 0, output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in path.read_bytes()
    assert b"PUBLIC KEY" in (tmp_path / "signer.pem.pub").read_bytes()
    before = path.read_bytes()
    code, output = _cli({}, "audit", "keygen", "--output", str(path))
    assert code == 1 and "refusing to overwrite" in output, output
    assert path.read_bytes() == before


@pytest.mark.parametrize("with_server_key", [True, False], ids=["hmac", "legacy-sha256"])
def test_a_whole_chain_rewritten_with_recomputed_hashes_passes_plain_verify_but_not_a_checkpoint(
    actx: Context,
    item_ids: list[int],
    env: dict[str, str],
    key_file: Path,
    tmp_path: Path,
    with_server_key: bool,
) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    _checkpoint(env, checkpoint)
    chain = audit_rules.item_chain(item_ids[0])
    _rewrite(actx, chain, _forge_outcome, actx.audit_keys.current if with_server_key else None)

    code, output = _cli(env, "audit", "verify")
    assert code == 0, output  # consistent: the chain alone cannot show it

    code, output = _cli(
        env,
        "audit",
        "verify",
        "--checkpoint",
        str(checkpoint),
        "--public-key",
        f"{key_file}.pub",
    )
    assert code == 1, output
    assert f"TAMPERED item {item_ids[0]}" in output, output
    assert "differs from the checkpoint" in output and "the chain was rewritten" in output, output


def test_the_system_chain_rewritten_with_the_server_key_is_caught_by_an_incremental_verify(
    actx: Context, item_ids: list[int], env: dict[str, str], tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    _checkpoint(env, checkpoint)
    users.add_user(actx, "later@example.com", Role.AUDITOR)  # an honest event after it
    _rewrite(actx, "system", lambda row: {"actor": "cli:someone-else"}, actx.audit_keys.current)
    assert audit_service.verify(actx).problems == []
    code, output = _cli(env, "audit", "verify", "--checkpoint", str(checkpoint), "--incremental")
    assert code == 1, output
    assert "TAMPERED system event" in output and "differs from the checkpoint" in output, output


def test_a_chain_cut_back_before_the_checkpoint_with_a_consistent_head_is_reported(
    actx: Context, item_ids: list[int], env: dict[str, str], tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    _checkpoint(env, checkpoint)
    item_id = item_ids[1]
    with actx.engine.begin() as connection:
        connection.execute(sa.delete(ev).where(ev.c.chain == f"item:{item_id}", ev.c.seq == 3))
        second = connection.execute(
            sa.select(ev.c.hash).where(ev.c.chain == f"item:{item_id}", ev.c.seq == 2)
        ).scalar_one()
        connection.execute(
            sa.update(t.items).where(t.items.c.id == item_id).values(audit_seq=2, audit_hash=second)
        )
    assert audit_service.verify(actx).problems == []
    for mode in ([], ["--incremental"]):
        code, output = _cli(env, "audit", "verify", "--checkpoint", str(checkpoint), *mode)
        assert code == 1, output
        assert f"item {item_id}: chain ends at seq 2" in output, output
        assert "has it at seq 3: events were deleted" in output, output


def test_an_item_deleted_with_its_whole_chain_since_the_checkpoint_is_reported(
    actx: Context, item_ids: list[int], env: dict[str, str], tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    _checkpoint(env, checkpoint)
    gone = item_ids[0]
    with actx.engine.begin() as connection:
        connection.execute(sa.delete(t.outbox).where(t.outbox.c.item_id == gone))
        connection.execute(sa.delete(ev).where(ev.c.chain == f"item:{gone}"))
        connection.execute(sa.delete(t.items).where(t.items.c.id == gone))
    assert audit_service.verify(actx).problems == []
    code, output = _cli(env, "audit", "verify", "--checkpoint", str(checkpoint))
    assert code == 1, output
    assert f"item {gone}: the chain is gone" in output, output


def test_incremental_verify_rehashes_only_events_after_the_checkpoint_and_still_finds_tampering(
    actx: Context, item_ids: list[int], env: dict[str, str], tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    _checkpoint(env, checkpoint)
    anchor = audit_service.read_checkpoint(checkpoint, audit_service.public_key(actx, None))
    later = intake.submit_items(
        actx, "docs", [intake.NewItem({"text": "later", "confidence": 0.5})], "key:1"
    )
    users.add_user(actx, "later@example.com", Role.AUDITOR)

    full = audit_service.verify(actx, checkpoint=anchor)
    incremental = audit_service.verify(actx, checkpoint=anchor, incremental=True)
    assert full.problems == [] and incremental.problems == []
    assert full.rehashed == full.checked == anchor.events + 2
    assert incremental.rehashed == 2  # the new item's received and the new system event
    # Read: each checkpointed chain's anchor event, and what came after.
    assert incremental.checked == len(anchor.heads) + 2

    code, output = _cli(env, "audit", "verify", "--checkpoint", str(checkpoint), "--incremental")
    assert code == 0, output
    assert "2 re-hashed" in output and "events/s" in output, output

    new_chain = audit_rules.item_chain(later[0].item_id)
    with actx.engine.begin() as connection:
        connection.execute(sa.update(ev).where(ev.c.chain == new_chain).values(actor="forged"))
    code, output = _cli(env, "audit", "verify", "--checkpoint", str(checkpoint), "--incremental")
    assert code == 1, output
    assert f"TAMPERED item {later[0].item_id} event" in output, output
    assert "event was modified" in output, output


def test_an_altered_checkpoint_or_another_signers_key_is_refused(
    actx: Context, item_ids: list[int], env: dict[str, str], tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    _checkpoint(env, checkpoint)
    document = json.loads(checkpoint.read_text())
    chain = audit_rules.item_chain(item_ids[0])
    document["heads"][chain][1] = "0" * 64
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(document))
    code, output = _cli(env, "audit", "verify", "--checkpoint", str(altered))
    assert code == 1 and "signature does not verify" in output, output

    other = tmp_path / "other.pem"
    assert _cli({}, "audit", "keygen", "--output", str(other))[0] == 0
    code, output = _cli(
        env, "audit", "verify", "--checkpoint", str(checkpoint), "--public-key", f"{other}.pub"
    )
    assert code == 1 and "signature does not verify" in output, output


def test_a_checkpoint_is_not_signed_for_a_trail_that_does_not_verify(
    actx: Context, item_ids: list[int], env: dict[str, str], tmp_path: Path
) -> None:
    with actx.engine.begin() as connection:
        connection.execute(
            sa.update(ev)
            .where(ev.c.chain == f"item:{item_ids[0]}", ev.c.seq == 1)
            .values(actor="x")
        )
    path = tmp_path / "checkpoint.json"
    code, output = _cli(env, "audit", "checkpoint", "--output", str(path))
    assert code == 1 and "does not verify" in output and "no checkpoint was signed" in output
    assert not path.exists()
    with pytest.raises(errors.InvalidCheckpoint):
        audit_service.create_checkpoint(actx)


def test_one_unkeyed_event_recomputed_after_keyed_ones_is_reported_by_plain_verify(
    actx: Context, item_ids: list[int], env: dict[str, str]
) -> None:
    """Without the key, a forger can only write SHA-256 events, which may never follow HMACs."""
    chain = audit_rules.item_chain(item_ids[0])
    with actx.engine.begin() as connection:
        last = connection.execute(
            sa.select(ev).where(ev.c.chain == chain).order_by(ev.c.seq.desc()).limit(1)
        ).one()
        forged = {**last.data, "label": "contract"}
        digest = audit_rules.event_hash(
            chain=chain,
            seq=last.seq,
            prev_hash=last.prev_hash,
            type=last.type,
            actor=last.actor,
            data=forged,
            created_at=last.created_at,
        )
        connection.execute(
            sa.update(ev).where(ev.c.id == last.id).values(data=forged, hash=digest, key_id=None)
        )
        connection.execute(
            sa.update(t.items).where(t.items.c.id == item_ids[0]).values(audit_hash=digest)
        )
    code, output = _cli(env, "audit", "verify")
    assert code == 1, output
    assert "unkeyed (legacy SHA-256) event follows keyed ones" in output, output


def test_a_rotated_audit_key_keeps_old_events_verifiable_only_while_it_is_listed(
    db_url: str, actx: Context, item_ids: list[int]
) -> None:
    old = actx.settings.signing_secret()  # the key was derived from the secret key
    new_key = "rotated-audit-key-" + "k3y" * 10
    rotated = create_context(
        make_settings(
            db_url, audit={"key": new_key, "previous_keys": f"unrelated-{'x' * 40},{old}"}
        )
    )
    forgotten = create_context(make_settings(db_url, audit={"key": new_key}))
    try:
        assert rotated.audit_keys.current.key_id != actx.audit_keys.current.key_id
        users.add_user(rotated, "after-rotation@example.com", Role.AUDITOR)
        with rotated.sessions() as session:
            key_ids = set(session.execute(sa.select(ev.c.key_id).distinct()).scalars())
        assert key_ids == {actx.audit_keys.current.key_id, rotated.audit_keys.current.key_id}
        report = audit_service.verify(rotated)
        assert report.problems == [] and report.legacy == 0
        problems = audit_service.verify(forgotten).problems
        assert problems and all(
            "which is not configured: add it to SIGNOFF_AUDIT__PREVIOUS_KEYS" in p.problem
            for p in problems
        )
    finally:
        rotated.close()
        forgotten.close()


def test_a_chain_begun_after_the_checkpoint_and_rewritten_as_legacy_sha256_is_reported(
    actx: Context, item_ids: list[int], env: dict[str, str], tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    _checkpoint(env, checkpoint)
    anchor = audit_service.read_checkpoint(checkpoint, audit_service.public_key(actx, None))
    [later] = intake.submit_items(
        actx, "docs", [intake.NewItem({"text": "later", "confidence": 0.5})], "key:1"
    )
    chain = audit_rules.item_chain(later.item_id)
    _rewrite(actx, chain, lambda row: {"actor": "forged"}, None)
    assert audit_service.verify(actx).problems == []  # a consistent legacy chain
    for incremental in (False, True):
        [problem] = audit_service.verify(actx, checkpoint=anchor, incremental=incremental).problems
        assert problem.item_id == later.item_id
        assert "in a chain begun after the checkpoint" in problem.problem
