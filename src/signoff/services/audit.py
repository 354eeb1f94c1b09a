"""Verify every hash chain in the audit trail."""

from __future__ import annotations

from collections.abc import Callable

from signoff.domain import audit as audit_rules
from signoff.services.context import Context
from signoff.storage import audit


def verify_all(
    ctx: Context, progress: Callable[[int], None] | None = None
) -> tuple[int, list[audit_rules.ChainProblem]]:
    """Check every chain; returns (events checked, problems)."""
    problems: list[audit_rules.ChainProblem] = []
    checked = 0
    with ctx.sessions() as session:
        heads = audit.read_heads(session)
        seen: set[str] = set()
        for chain, events in audit.iter_chains(session):
            seen.add(chain)
            item_id = int(chain.split(":", 1)[1]) if chain.startswith("item:") else None
            problems.extend(
                audit_rules.verify_chain(chain, events, head=heads.get(chain), item_id=item_id)
            )
            checked += len(events)
            if progress:
                progress(len(events))
        for chain, head in heads.items():
            if chain not in seen and head[0] > 0:
                item_id = int(chain.split(":", 1)[1]) if chain.startswith("item:") else None
                problems.append(
                    audit_rules.ChainProblem(chain, item_id, None, None,
                                             f"all {head[0]} events are missing")
                )
    return checked, problems
