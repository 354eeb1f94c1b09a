"""Verify every hash chain in the audit trail."""

from __future__ import annotations

from collections.abc import Callable

from signoff.domain import audit as audit_rules
from signoff.services.context import Context
from signoff.storage import audit, engine


def verify_all(
    ctx: Context, progress: Callable[[int], None] | None = None
) -> tuple[int, list[audit_rules.ChainProblem]]:
    """Check every chain; returns (events checked, problems)."""
    problems: list[audit_rules.ChainProblem] = []
    checked = 0
    with ctx.sessions() as session:
        if engine.dialect_name(session) == "postgresql":
            # Heads and events from one snapshot: on a live system, READ COMMITTED would see
            # events appended after the heads were read and report them as tampering.
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        heads = audit.read_heads(session)
        seen: set[str] = set()
        for chain, events in audit.iter_chains(session):
            seen.add(chain)
            item_id = int(chain.split(":", 1)[1]) if chain.startswith("item:") else None
            head = heads.get(chain)
            if head is None:
                # Nothing deletes items or chain heads, so events without one were orphaned
                # on purpose: without this, deleting the item row and then its last events
                # would verify as intact.
                where = "item row" if item_id is not None else "chain head"
                problems.append(
                    audit_rules.ChainProblem(
                        chain, item_id, None, None, f"the {where} is missing: it was deleted"
                    )
                )
            problems.extend(audit_rules.verify_chain(chain, events, head=head, item_id=item_id))
            checked += len(events)
            if progress:
                progress(len(events))
        for chain, head in heads.items():
            if chain not in seen and head[0] > 0:
                item_id = int(chain.split(":", 1)[1]) if chain.startswith("item:") else None
                problems.append(
                    audit_rules.ChainProblem(
                        chain, item_id, None, None, f"all {head[0]} events are missing"
                    )
                )
    return checked, problems
