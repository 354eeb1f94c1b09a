"""`signoff eval`'s simulated reviewers: they err at the set rate, and under consensus
independent reviewers vote (one more breaks ties), each item decided once."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa

from signoff.demo import documents
from signoff.domain import errors
from signoff.services import evaluation
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.storage import tables as t

ITEMS = 60


def _workflow(consensus: dict[str, object] | None = None) -> dict[str, object]:
    review: dict[str, object] = {"outcomes": ["approved", "rejected"]}
    if consensus is not None:
        review["consensus"] = consensus
    # No threshold: every item goes to people, so every final label is a reviewer's.
    return {
        "name": "docs",
        "labels": ["invoice", "contract", "receipt", "other"],
        "ai": {"provider": "builtin"},
        "review": review,
        "training": {"min_labels": 20},
    }


def _examples() -> list[tuple[str, str]]:
    return list(documents.generate(ITEMS, seed=11))


def _decided_once(ctx: Context) -> None:
    with ctx.sessions() as session:
        states = Counter(session.execute(sa.select(t.items.c.state)).scalars())
        held = Counter(
            (r.item_id, r.assignee_id)
            for r in session.execute(
                sa.select(t.review_tasks.c.item_id, t.review_tasks.c.assignee_id).where(
                    t.review_tasks.c.assignee_id.is_not(None)
                )
            )
        )
        decided_events = session.execute(
            sa.select(sa.func.count())
            .select_from(t.audit_events)
            .where(t.audit_events.c.type == "decided")
        ).scalar_one()
    assert sum(states.values()) == ITEMS
    assert set(states) <= {"approved", "rejected"}
    assert decided_events == ITEMS
    assert max(held.values()) == 1


def test_a_reviewer_who_never_errs_labels_every_item_right(ctx: Context) -> None:
    workflow_service.apply_workflow(ctx, _workflow(), "test")
    result = evaluation.replay(ctx, "docs", _examples(), batch_size=20).summary()
    assert result["human_reviews"] == ITEMS
    assert result["reviewer_decisions"] == ITEMS
    assert result["reviewer_mistakes"] == 0
    assert result["human_label_errors"] == 0


def test_a_reviewer_who_errs_leaves_wrong_labels_at_about_that_rate(ctx: Context) -> None:
    workflow_service.apply_workflow(ctx, _workflow(), "test")
    result = evaluation.replay(
        ctx, "docs", _examples(), batch_size=20, reviewer_error_rate=0.3
    ).summary()
    assert result["reviewer_decisions"] == ITEMS
    assert 8 <= result["reviewer_mistakes"] <= 28
    # One reviewer per item: each mistake is a wrong final label.
    assert result["human_label_errors"] == result["reviewer_mistakes"]


def test_consensus_reviewers_vote_independently_and_catch_most_mistakes(ctx: Context) -> None:
    workflow_service.apply_workflow(ctx, _workflow({"reviewers": 2}), "test")
    result = evaluation.replay(
        ctx, "docs", _examples(), batch_size=20, reviewer_error_rate=0.3
    ).summary()
    _decided_once(ctx)
    # Two votes per item, plus a tie-break wherever they disagreed.
    assert result["reviewer_decisions"] > 2 * ITEMS
    assert result["reviewer_mistakes"] > 0
    assert result["human_label_error_rate"] < 0.3


def test_consensus_with_an_escalation_group_puts_the_tie_breaker_in_it(ctx: Context) -> None:
    workflow_service.apply_workflow(
        ctx, _workflow({"reviewers": 2, "escalate_to": "leads"}), "test"
    )
    evaluation.replay(ctx, "docs", _examples(), batch_size=20, reviewer_error_rate=0.3)
    _decided_once(ctx)


def test_a_reviewer_error_rate_outside_zero_to_one_is_refused(ctx: Context) -> None:
    workflow_service.apply_workflow(ctx, _workflow(), "test")
    with pytest.raises(errors.ValidationFailed) as caught:
        evaluation.replay(ctx, "docs", _examples(), reviewer_error_rate=1.5)
    assert caught.value.context["field"] == "reviewer_error_rate"
