"""Who gets a new review task: the group a task goes to and the member a strategy picks.

Pure functions over plain values; services/assignment.py reads the members and their
load from the database (with the group's cursor row locked) and applies the choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from signoff.domain.review_ops import AssignmentSpec, AssignmentStrategy


@dataclass(frozen=True)
class Target:
    """Where a task goes: a group (None: anyone) and, for `skill`, the skill it needs."""

    group: str | None
    skill: str | None = None
    #: The rule that chose the group (`label=contract`, `metadata.country`), for the audit.
    rule: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A group member as the strategies see them."""

    user_id: int
    email: str
    skills: tuple[str, ...]
    open_tasks: int
    #: Their latest assignment or decision (None: never), for "longest idle".
    last_active: datetime | None


def target_for(spec: AssignmentSpec, label: str | None, metadata: dict[str, Any]) -> Target:
    """The group (and skill) a task is for: the first matching skill rule, else `group`."""
    if spec.strategy == AssignmentStrategy.SKILL:
        for rule in spec.rules:
            if rule.label is not None and rule.label == label:
                return Target(rule.group, rule.skill, f"label={rule.label}")
            if rule.metadata is not None and rule.metadata.matches(metadata):
                return Target(rule.group, rule.skill, f"metadata.{rule.metadata.field}")
    return Target(spec.group)


def eligible(
    candidates: Sequence[Candidate], skill: str | None, cap: int | None
) -> list[Candidate]:
    """Members who may take one more task: with the skill (if any), under the cap (if any)."""
    return [
        c
        for c in candidates
        if (skill is None or skill in c.skills) and (cap is None or c.open_tasks < cap)
    ]


def pick_round_robin(candidates: Sequence[Candidate], last_user_id: int | None) -> Candidate | None:
    """The next member after `last_user_id` in user-id order, wrapping around."""
    ordered = sorted(candidates, key=lambda c: c.user_id)
    if not ordered:
        return None
    if last_user_id is not None:
        for candidate in ordered:
            if candidate.user_id > last_user_id:
                return candidate
    return ordered[0]


def pick_least_loaded(candidates: Sequence[Candidate]) -> Candidate | None:
    """Fewest open tasks, then longest idle (never active first), then lowest id."""
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda c: (
            c.open_tasks,
            c.last_active is not None,
            c.last_active or datetime.min,
            c.user_id,
        ),
    )


def pick(
    strategy: AssignmentStrategy,
    candidates: Sequence[Candidate],
    *,
    skill: str | None,
    cap: int | None,
    last_user_id: int | None,
) -> Candidate | None:
    """The member `strategy` gives the task to; None: nobody free, it stays in the pool."""
    free = eligible(candidates, skill, cap)
    if strategy == AssignmentStrategy.ROUND_ROBIN:
        return pick_round_robin(free, last_user_id)
    if strategy in (AssignmentStrategy.LEAST_LOADED, AssignmentStrategy.SKILL):
        return pick_least_loaded(free)
    return None
