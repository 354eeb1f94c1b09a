"""The assignment strategies as pure functions: turn order, load, idleness, skills, cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from signoff.domain import assignment as rules
from signoff.domain.review_ops import AssignmentSpec, AssignmentStrategy

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _c(
    user_id: int,
    open_tasks: int = 0,
    idle_since: datetime | None = None,
    skills: tuple[str, ...] = (),
) -> rules.Candidate:
    return rules.Candidate(user_id, f"u{user_id}@example.com", skills, open_tasks, idle_since)


def test_round_robin_takes_the_member_after_the_last_one_and_wraps_around() -> None:
    members = [_c(3), _c(1), _c(2)]
    assert rules.pick_round_robin(members, None).user_id == 1  # type: ignore[union-attr]
    assert rules.pick_round_robin(members, 1).user_id == 2  # type: ignore[union-attr]
    assert rules.pick_round_robin(members, 3).user_id == 1  # type: ignore[union-attr]
    # The last one left the group: the next id after it still continues the turn.
    assert rules.pick_round_robin([_c(1), _c(4)], 2).user_id == 4  # type: ignore[union-attr]


def test_least_loaded_prefers_fewest_open_tasks_then_the_longest_idle() -> None:
    busy = _c(1, open_tasks=3, idle_since=T0 - timedelta(days=9))
    recent = _c(2, open_tasks=1, idle_since=T0)
    idle = _c(3, open_tasks=1, idle_since=T0 - timedelta(hours=5))
    assert rules.pick_least_loaded([busy, recent, idle]) == idle
    never = _c(4, open_tasks=1, idle_since=None)
    assert rules.pick_least_loaded([busy, recent, idle, never]) == never


def test_a_full_reviewer_is_skipped_and_nobody_free_means_no_assignee() -> None:
    full = _c(1, open_tasks=2)
    free = _c(2, open_tasks=1, idle_since=T0)
    strategy = AssignmentStrategy.LEAST_LOADED
    assert rules.pick(strategy, [full, free], skill=None, cap=2, last_user_id=None) == free
    picked = rules.pick(
        AssignmentStrategy.ROUND_ROBIN, [full, free], skill=None, cap=2, last_user_id=2
    )
    assert picked == free  # the turn wraps past the full reviewer
    assert rules.pick(strategy, [full], skill=None, cap=2, last_user_id=None) is None


def test_skill_picks_only_members_with_the_skill_and_pull_picks_nobody() -> None:
    de = _c(1, open_tasks=5, skills=("german",))
    fr = _c(2, skills=("french",))
    skill = AssignmentStrategy.SKILL
    assert rules.pick(skill, [de, fr], skill="german", cap=None, last_user_id=None) == de
    assert rules.pick(skill, [fr], skill="german", cap=None, last_user_id=None) is None
    pull = AssignmentStrategy.PULL
    assert rules.pick(pull, [de, fr], skill=None, cap=None, last_user_id=None) is None


def test_the_first_matching_rule_chooses_the_group_else_the_fallback() -> None:
    spec = AssignmentSpec.model_validate(
        {
            "strategy": "skill",
            "group": "clerks",
            "rules": [
                {"label": "contract", "group": "legal"},
                {"metadata": {"field": "country", "equals": "DE"}, "group": "emea", "skill": "de"},
                {"label": "invoice", "group": "never-reached-for-de"},
            ],
        }
    )
    assert rules.target_for(spec, "contract", {}) == rules.Target("legal", None, "label=contract")
    assert rules.target_for(spec, "invoice", {"country": "DE"}) == rules.Target(
        "emea", "de", "metadata.country"
    )
    assert rules.target_for(spec, "receipt", {}) == rules.Target("clerks")
    plain = AssignmentSpec.model_validate({"strategy": "round_robin", "group": "clerks"})
    assert rules.target_for(plain, "contract", {}) == rules.Target("clerks")
