"""Consensus rules: the agreement maths against textbook values, the tally, the sampling."""

from __future__ import annotations

import pytest

from signoff.domain import agreement, consensus, errors
from signoff.domain import workflow as wf
from signoff.domain.consensus import Agreement, ConsensusSpec, Verdict, Vote


def test_cohen_kappa_matches_the_textbook_two_by_two_table() -> None:
    # 50 items: both yes 20, A yes B no 5, A no B yes 10, both no 15 -> p_o .7, p_e .5.
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert agreement.cohen_kappa(pairs) == pytest.approx(0.4)


def test_cohen_kappa_of_a_second_textbook_table() -> None:
    # 100 items: 45 / 15 / 25 / 15 -> p_o .60, p_e .54, kappa .1304.
    pairs = [("y", "y")] * 45 + [("y", "n")] * 15 + [("n", "y")] * 25 + [("n", "n")] * 15
    assert agreement.cohen_kappa(pairs) == pytest.approx(0.06 / 0.46)


def test_cohen_kappa_is_one_for_perfect_agreement_and_none_without_items() -> None:
    assert agreement.cohen_kappa([("a", "a"), ("b", "b")]) == pytest.approx(1.0)
    assert agreement.cohen_kappa([("a", "a"), ("a", "a")]) == 1.0
    assert agreement.cohen_kappa([]) is None


def test_cohen_kappa_is_negative_when_raters_always_disagree() -> None:
    assert agreement.cohen_kappa([("a", "b"), ("b", "a")]) == pytest.approx(-1.0)


FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_matches_the_textbook_fourteen_raters_example() -> None:
    # Fleiss (1971) as usually worked: P-bar 0.378, P-e 0.213, kappa 0.210.
    rows = [{c: n for c, n in enumerate(row) if n} for row in FLEISS_TABLE]
    assert agreement.fleiss_kappa(rows) == pytest.approx(0.20993, abs=1e-4)


def test_fleiss_kappa_of_two_raters_and_perfect_agreement() -> None:
    assert agreement.fleiss_kappa([{"a": 2}, {"b": 2}]) == pytest.approx(1.0)
    # Every item split one-one over two equally used categories: kappa -1.
    assert agreement.fleiss_kappa([{"a": 1, "b": 1}] * 4) == pytest.approx(-1.0)
    assert agreement.fleiss_kappa([{"a": 1}]) is None
    assert agreement.fleiss_kappa([]) is None


def _votes(*answers: str) -> list[Vote]:
    return [Vote(f"r{i}", "approved", (a,)) for i, a in enumerate(answers)]


def test_unanimous_pair_agrees_or_disagrees_on_the_second_vote() -> None:
    spec = ConsensusSpec(reviewers=2)
    assert consensus.tally(spec, _votes("a")).verdict is Verdict.PENDING
    agreed = consensus.tally(spec, _votes("a", "a"))
    assert agreed.verdict is Verdict.AGREED and agreed.winner == _votes("a")[0]
    assert consensus.tally(spec, _votes("a", "b")).verdict is Verdict.DISAGREED


def test_unanimity_of_three_fails_as_soon_as_two_differ() -> None:
    spec = ConsensusSpec(reviewers=3)
    assert consensus.tally(spec, _votes("a", "b")).verdict is Verdict.DISAGREED


def test_majority_of_three_needs_two_and_waits_for_the_third_after_a_split() -> None:
    spec = ConsensusSpec(reviewers=3, agreement=Agreement.MAJORITY)
    assert spec.needed() == 2
    assert consensus.tally(spec, _votes("a", "a")).verdict is Verdict.AGREED
    assert consensus.tally(spec, _votes("a", "b")).verdict is Verdict.PENDING
    assert consensus.tally(spec, _votes("a", "b", "b")).verdict is Verdict.AGREED
    assert consensus.tally(spec, _votes("a", "b", "c")).verdict is Verdict.DISAGREED


def test_majority_of_four_needs_three() -> None:
    spec = ConsensusSpec(reviewers=4, agreement=Agreement.MAJORITY)
    assert consensus.tally(spec, _votes("a", "a", "b", "b")).verdict is Verdict.DISAGREED


def test_votes_agree_only_on_the_same_outcome_and_labels() -> None:
    spec = ConsensusSpec(reviewers=2)
    votes = [Vote("r1", "approved", ("a",)), Vote("r2", "rejected", ("a",))]
    assert consensus.tally(spec, votes).verdict is Verdict.DISAGREED


def test_sampling_is_a_fixed_draw_per_item_near_the_rate() -> None:
    first = [consensus.sampled(7, i, 0.3) for i in range(4000)]
    assert first == [consensus.sampled(7, i, 0.3) for i in range(4000)]
    assert 0.27 < sum(first) / len(first) < 0.33
    assert all(consensus.sampled(7, i, 1.0) for i in range(100))
    assert not any(consensus.sampled(7, i, 0.0) for i in range(100))
    # A higher rate keeps every item a lower rate chose (one draw, compared to the rate).
    assert all(consensus.sampled(7, i, 0.6) for i in range(4000) if first[i])


BASE = {"name": "w", "labels": ["a", "b"]}


@pytest.mark.parametrize(
    ("consensus_spec", "field"),
    [
        ({"reviewers": 1}, "review.consensus.reviewers"),
        ({"reviewers": 6}, "review.consensus.reviewers"),
        ({"sample_rate": -0.1}, "review.consensus.sample_rate"),
        ({"sample_rate": float("inf")}, "review.consensus.sample_rate"),
        ({"agreement": "plurality"}, "review.consensus.agreement"),
        ({"escalate_to": "Not A Group"}, "review.consensus.escalate_to"),
    ],
)
def test_consensus_spec_refuses_values_out_of_bounds(
    consensus_spec: dict[str, object], field: str
) -> None:
    with pytest.raises(errors.InvalidWorkflow) as caught:
        wf.parse_workflow({**BASE, "review": {"consensus": consensus_spec}})
    assert caught.value.context["field"] == field


def test_consensus_spec_defaults_to_a_unanimous_pair_on_every_item() -> None:
    spec = wf.parse_workflow({**BASE, "review": {"consensus": {}}})
    assert spec.review.consensus == ConsensusSpec(
        reviewers=2, agreement=Agreement.UNANIMOUS, sample_rate=1.0, escalate_to=None
    )
