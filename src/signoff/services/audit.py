"""Verify every hash chain in the audit trail, and sign checkpoints of their heads."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.orm import Session

from signoff.domain import audit as audit_rules
from signoff.domain import checkpoints, errors
from signoff.services.context import Context
from signoff.storage import audit, engine


@dataclass
class Report:
    """What a verification found and how fast it went."""

    checked: int = 0
    rehashed: int = 0
    legacy: int = 0
    chains: int = 0
    seconds: float = 0.0
    problems: list[audit_rules.ChainProblem] = field(default_factory=list)
    #: Whether a checkpoint was compared with (and, when incremental, trusted up to).
    checkpoint: checkpoints.Checkpoint | None = None
    incremental: bool = False

    @property
    def events_per_second(self) -> float:
        return self.checked / self.seconds if self.seconds > 0 else 0.0


def verify_all(
    ctx: Context, progress: Callable[[int], None] | None = None
) -> tuple[int, list[audit_rules.ChainProblem]]:
    """Check every chain; returns (events checked, problems)."""
    report = verify(ctx, progress=progress)
    return report.checked, report.problems


def verify(
    ctx: Context,
    *,
    checkpoint: checkpoints.Checkpoint | None = None,
    incremental: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Check every chain, and with a checkpoint that no chain it saw was rewritten or cut.

    `incremental` (needs a checkpoint) re-hashes only the events after the checkpoint's
    heads; the events up to them were verified when the checkpoint was signed.
    """
    if incremental and checkpoint is None:
        raise errors.ValidationFailed("an incremental verification needs a checkpoint")
    started = time.perf_counter()
    with ctx.sessions() as session:
        _snapshot(session)
        report = _verify_in(session, ctx.audit_keys, checkpoint, incremental, progress)
    report.seconds = time.perf_counter() - started
    return report


def _snapshot(session: Session) -> None:
    if engine.dialect_name(session) == "postgresql":
        # Heads and events from one snapshot: on a live system, READ COMMITTED would see
        # events appended after the heads were read and report them as tampering.
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _verify_in(
    session: Session,
    keyring: audit_rules.Keyring,
    checkpoint: checkpoints.Checkpoint | None,
    incremental: bool,
    progress: Callable[[int], None] | None,
) -> Report:
    report = Report(checkpoint=checkpoint, incremental=incremental)
    keys = keyring.secrets
    heads = audit.read_heads(session)
    seen: set[str] = set()
    since = None
    if incremental and checkpoint is not None:
        since = {chain: head[0] for chain, head in checkpoint.heads.items()}
    for chain, events in audit.iter_chains(session, since=since):
        seen.add(chain)
        item_id = _item_id(chain)
        head = heads.get(chain)
        if head is None:
            # Nothing deletes items or chain heads, so events without one were orphaned
            # on purpose: without this, deleting the item row and then its last events
            # would verify as intact.
            where = "item row" if item_id is not None else "chain head"
            report.problems.append(
                audit_rules.ChainProblem(
                    chain, item_id, None, None, f"the {where} is missing: it was deleted"
                )
            )
        anchor = checkpoint.anchor(chain) if checkpoint else None
        found = audit_rules.check_chain(
            chain,
            events,
            head=head,
            item_id=item_id,
            keys=keys,
            anchor=anchor,
            incremental=incremental and anchor is not None,
            keyed_only=checkpoint is not None and anchor is None,
        )
        report.problems.extend(found.problems)
        report.rehashed += found.rehashed
        report.legacy += found.legacy
        report.checked += len(events)
        if progress:
            progress(len(events))
    report.chains = len(seen)
    for chain, head in heads.items():
        if chain in seen or head[0] == 0:
            continue
        anchor = checkpoint.anchor(chain) if since is not None and checkpoint else None
        if anchor is not None:
            # Read from the anchor on, and nothing was there.
            stored = f"ends at seq {head[0]}" if head[0] < anchor.seq else "has no event there"
            report.problems.append(
                audit_rules.ChainProblem(
                    chain,
                    _item_id(chain),
                    None,
                    None,
                    f"chain {stored} but the checkpoint of {anchor.taken_at} has it at seq "
                    f"{anchor.seq}: events were deleted",
                )
            )
        else:
            report.problems.append(
                audit_rules.ChainProblem(
                    chain, _item_id(chain), None, None, f"all {head[0]} events are missing"
                )
            )
    if checkpoint is not None:
        for chain in sorted(set(checkpoint.heads) - seen - set(heads)):
            report.problems.append(
                audit_rules.ChainProblem(
                    chain,
                    _item_id(chain),
                    None,
                    None,
                    f"the chain is gone, with its head: the checkpoint of "
                    f"{checkpoint.created_at.isoformat()} has it at seq {checkpoint.heads[chain][0]}",
                )
            )
    return report


def _item_id(chain: str) -> int | None:
    return int(chain.split(":", 1)[1]) if chain.startswith("item:") else None


def create_checkpoint(ctx: Context) -> tuple[bytes, checkpoints.Checkpoint]:
    """A signed checkpoint of every chain's head; refuses (InvalidCheckpoint) a trail that fails.

    The trail is verified in full in the same snapshot the heads are read from, so a
    checkpoint only ever vouches for a trail that verified.
    """
    key = _signing_key(ctx)
    now = ctx.clock.now()
    with ctx.sessions() as session:
        _snapshot(session)
        report = _verify_in(session, ctx.audit_keys, None, False, None)
        if report.problems:
            raise errors.InvalidCheckpoint(
                f"the audit trail does not verify ({len(report.problems)} problem(s), first: "
                f"{report.problems[0].describe()}); no checkpoint was signed"
            )
        heads = {chain: head for chain, head in audit.read_heads(session).items() if head[0] > 0}
    checkpoint = checkpoints.Checkpoint(
        created_at=now, events=report.checked, legacy_events=report.legacy, heads=heads
    )
    return checkpoints.sign(checkpoint, key), checkpoint


def _signing_key(ctx: Context) -> ed25519.Ed25519PrivateKey:
    path = ctx.settings.audit.signing_key_file
    if not path:
        raise errors.ConfigError(
            "no checkpoint signing key: set SIGNOFF_AUDIT__SIGNING_KEY_FILE "
            "(make one with `signoff audit keygen`)"
        )
    return checkpoints.load_private_key(
        _read_key_file(Path(path), "SIGNOFF_AUDIT__SIGNING_KEY_FILE")
    )


def public_key(ctx: Context, path: Path | None) -> ed25519.Ed25519PublicKey:
    """The key checkpoints are checked with: `path`, else the configured signing key's."""
    if path is not None:
        return checkpoints.load_public_key(_read_key_file(path, "--public-key"))
    configured = ctx.settings.audit.signing_key_file
    if not configured:
        raise errors.ConfigError(
            "which key signed the checkpoint? pass --public-key FILE "
            "(or set SIGNOFF_AUDIT__SIGNING_KEY_FILE)"
        )
    return _signing_key(ctx).public_key()


def read_checkpoint(path: Path, key: ed25519.Ed25519PublicKey) -> checkpoints.Checkpoint:
    if not path.is_file():
        raise errors.ValidationFailed(f"no such checkpoint file: {path}")
    if path.stat().st_size > checkpoints.MAX_FILE_BYTES:
        raise errors.InvalidCheckpoint("the checkpoint file is too large")
    return checkpoints.load(path.read_bytes(), key)


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()[: 64 * 1024]
    except OSError as exc:
        raise errors.ConfigError(f"{what}: cannot read {path} ({exc.strerror})") from None


def write_key_pair(private_path: Path) -> Path:
    """Write a new Ed25519 key pair: the private key readable by its owner only, and `.pub`."""
    public_path = private_path.with_name(private_path.name + ".pub")
    for target in (private_path, public_path):
        if target.exists():
            raise errors.ValidationFailed(f"{target} exists; refusing to overwrite a key")
    private, public = checkpoints.new_key_pair()
    try:
        # O_EXCL with mode 0600 from the start: the key is never readable by others, not
        # even between creating the file and a later chmod.
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(private)
        public_path.write_bytes(public)
    except OSError as exc:
        raise errors.ValidationFailed(f"cannot write {exc.filename} ({exc.strerror})") from None
    return public_path


def write_checkpoint(path: Path, data: bytes) -> None:
    """Write a signed checkpoint file, replacing it whole or not at all."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as exc:
        raise errors.ValidationFailed(f"cannot write {exc.filename} ({exc.strerror})") from None
