"""M-of-N consensus review: the spec, which items it applies to, and how votes are tallied."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from pydantic import Field

from signoff.domain.spec_base import Name, Strict

#: Fewest and most reviewers one item may need under consensus.
MIN_REVIEWERS = 2
MAX_REVIEWERS = 5


class Agreement(StrEnum):
    """When the votes on an item agree."""

    UNANIMOUS = "unanimous"  # every reviewer gave the same answer
    MAJORITY = "majority"  # more than half of the reviewers gave the same answer


class TaskKind(StrEnum):
    """What a review task of a consensus item is (a normal task has no kind)."""

    VOTE = "vote"  # one of the N independent reviews
    TIEBREAK = "tiebreak"  # the review that settles a disagreement


class ConsensusSpec(Strict):
    """`review.consensus`: N reviewers per human-routed item (or a sampled fraction)."""

    reviewers: int = Field(
        default=2, ge=MIN_REVIEWERS, le=MAX_REVIEWERS, description="Distinct reviewers per item"
    )
    agreement: Agreement = Field(default=Agreement.UNANIMOUS, description="unanimous or majority")
    sample_rate: float = Field(
        default=1.0, ge=0, le=1, description="Fraction of human-routed items reviewed this way"
    )
    escalate_to: Name | None = Field(
        default=None,
        description="The group a disagreement goes to (omitted: one more reviewer decides)",
    )

    def needed(self) -> int:
        """How many agreeing votes decide an item."""
        if self.agreement is Agreement.UNANIMOUS:
            return self.reviewers
        return self.reviewers // 2 + 1


def sampled(workflow_id: int, item_id: int, rate: float) -> bool:
    """Whether consensus applies to this item: a draw fixed by the ids, so every process agrees."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    digest = hashlib.sha256(f"consensus:{workflow_id}:{item_id}".encode()).digest()
    draw = int.from_bytes(digest[:8], "big") / 2**64
    return draw < rate


@dataclass(frozen=True)
class Vote:
    """One reviewer's answer: the outcome and the labels (first label first)."""

    reviewer: str
    outcome: str
    labels: tuple[str, ...]

    @property
    def answer(self) -> tuple[str, tuple[str, ...]]:
        """What two votes must share to agree."""
        return (self.outcome, self.labels)


class Verdict(StrEnum):
    PENDING = "pending"  # votes outstanding, agreement still possible
    AGREED = "agreed"
    DISAGREED = "disagreed"  # agreement can no longer be reached: escalate


@dataclass(frozen=True)
class Tally:
    verdict: Verdict
    #: The agreed answer's first vote (AGREED only).
    winner: Vote | None = None


def tally(spec: ConsensusSpec, votes: Sequence[Vote]) -> Tally:
    """The verdict on an item's votes so far (at most `spec.reviewers` of them)."""
    counts = Counter(v.answer for v in votes)
    needed = spec.needed()
    if counts:
        answer, top = counts.most_common(1)[0]
        if top >= needed:
            winner = next(v for v in votes if v.answer == answer)
            return Tally(Verdict.AGREED, winner)
    outstanding = spec.reviewers - len(votes)
    best = max(counts.values(), default=0)
    if best + outstanding < needed:
        return Tally(Verdict.DISAGREED)
    return Tally(Verdict.PENDING)
