"""Blind review and gold items as readers see them: redaction, and the oversight figures."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from signoff.domain import oversight
from signoff.domain.states import Role
from signoff.domain.workflow import WorkflowSpec
from signoff.services.users import Principal
from signoff.storage import oversight as queries


def hides_suggestion(principal: Principal, row: Any) -> bool:
    """Whether `principal` reads this item without the AI's suggestion (a blind item's reviewer).

    Admins, auditors and the application's service keys see everything.
    """
    return (
        bool(getattr(row, "blind", False))
        and principal.scopes is None
        and principal.role is Role.REVIEWER
    )


def hides_item(principal: Principal, row: Any) -> bool:
    """Whether the item is gold and the caller an application (a service key): never shown."""
    return getattr(row, "gold_label", None) is not None and principal.user_id is None


def redact_item(public: dict[str, Any]) -> dict[str, Any]:
    """The item's public form without the prediction, the routing reasons or the override."""
    route = public.get("route")
    decision = public.get("decision")
    return {
        **public,
        "prediction": None,
        "route": {"route": route["route"], "reasons": [], "threshold": None} if route else None,
        "decision": {**decision, "override": None} if decision else None,
    }


def redact_trail(trail: dict[str, Any]) -> dict[str, Any]:
    """The audit trail's events without what the AI suggested (verified before redaction)."""
    return {
        **trail,
        "events": [
            {**e, "data": oversight.redact_event(e["type"], e.get("data") or {})}
            for e in trail["events"]
        ],
    }


#: What a reviewer reads as the actor of an item's `received` event.
INTAKE_ACTOR = "intake"


def trail_for(principal: Principal, row: Any, trail: dict[str, Any]) -> dict[str, Any]:
    """The audit trail as `principal` may read it.

    A reviewer reads no prediction of a blind item, and not which key submitted an item:
    a gold item, released from an admin's import, would otherwise stand out. Admins,
    auditors and keys read the trail as stored.
    """
    if principal.scopes is not None or principal.role is not Role.REVIEWER:
        return trail
    shown = redact_trail(trail) if hides_suggestion(principal, row) else trail
    return {
        **shown,
        "events": [
            {**e, "actor": INTAKE_ACTOR} if e["type"] == "received" else e for e in shown["events"]
        ],
    }


def view_item(principal: Principal, row: Any, public: dict[str, Any]) -> dict[str, Any]:
    return redact_item(public) if hides_suggestion(principal, row) else public


def _who(row: Any) -> str:
    return str(row.email or f"user {row.assignee_id}")


def _compare(blind: oversight.Interval, assisted: oversight.Interval) -> dict[str, Any]:
    """Agreement-with-AI on blind and assisted tasks, and how much higher it is when assisted."""
    gap = (
        round(assisted.rate - blind.rate, 4)
        if assisted.rate is not None and blind.rate is not None
        else None
    )
    return {"blind": blind.public(), "assisted": assisted.public(), "assisted_minus_blind": gap}


def figures(
    session: Session,
    workflow_ids: Sequence[int],
    names: dict[int, str],
    specs: dict[int, WorkflowSpec],
    since: datetime | None,
) -> dict[str, Any]:
    """Automation bias (agreement with the AI, blind vs assisted) and gold accuracy.

    Per workflow and per reviewer, each proportion with its Wilson 95 % interval.
    """
    rows = queries.count_reviewed(session, workflow_ids, since) if workflow_ids else []
    agree: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    gold: dict[tuple[int, int], list[Any]] = {}
    for r in rows:
        n = int(r.n)
        if r.gold_label is not None:
            g = gold.setdefault((r.workflow_id, r.assignee_id), [0, 0, _who(r)])
            g[0] += n if r.final_label == r.gold_label else 0
            g[1] += n
            continue
        if r.ai_label is None or r.final_label is None:
            continue  # the AI gave no label, or nobody chose one: nothing to agree with
        hit = n if r.final_label == r.ai_label else 0
        for key in (("wf", r.workflow_id, bool(r.blind)), ("rv", _who(r), bool(r.blind))):
            agree[key][0] += hit
            agree[key][1] += n

    def interval(*key: Any) -> oversight.Interval:
        k, n = agree.get(key, [0, 0])
        return oversight.wilson(k, n)

    by_workflow = [
        {
            "workflow": names[w],
            "blind_rate": specs[w].review.blind_rate if w in specs else 0.0,
            **_compare(interval("wf", w, True), interval("wf", w, False)),
        }
        for w in sorted(workflow_ids, key=lambda i: names[i])
    ]
    reviewers = sorted({key[1] for key in agree if key[0] == "rv"})
    by_reviewer = [
        {"reviewer": who, **_compare(interval("rv", who, True), interval("rv", who, False))}
        for who in reviewers
    ]
    flags = {(f.workflow_id, f.user_id): f for f in queries.list_flags(session, workflow_ids)}
    accuracy = []
    for (w, user_id), (k, n, who) in sorted(
        gold.items(), key=lambda kv: (names[kv[0][0]], kv[1][2])
    ):
        spec = specs.get(w)
        floor = spec.review.gold_floor if spec else None
        score = oversight.wilson(k, n)
        flag = flags.get((w, user_id))
        accuracy.append(
            {
                "workflow": names[w],
                "reviewer": who,
                "user_id": user_id,
                "accuracy": score.public(),
                "gold_floor": floor,
                "below_floor": oversight.below_floor(score, floor),
                "flagged_at": flag.flagged_at.isoformat() if flag else None,
            }
        )
    flagged = [
        {
            "workflow": names[f.workflow_id],
            "reviewer": f.email,
            "user_id": f.user_id,
            "flagged_at": f.flagged_at.isoformat(),
            "accuracy": f.accuracy,
            "upper": f.upper,
            "n": f.n,
        }
        for f in flags.values()
    ]
    return {
        "level": oversight.LEVEL,
        "automation_bias": {"workflows": by_workflow, "reviewers": by_reviewer},
        "gold": {"reviewers": accuracy, "flagged": flagged},
    }
