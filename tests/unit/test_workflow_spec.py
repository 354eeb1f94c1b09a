"""Workflow definitions: the documented example is accepted, mistakes name their field."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
import yaml

from signoff.domain import errors
from signoff.domain.workflow import (
    RoutingMode,
    RoutingSpec,
    WorkflowSpec,
    check_workflow_name,
    dump_workflow,
    is_workflow_name,
    load_workflow_text,
    parse_workflow,
)

EXAMPLE = """
name: document-review
labels: [invoice, contract, receipt, other]
ai: {provider: python, options: {function: "mypkg.mymodule:classify"}}
routing: {threshold: 0.85, qa_sample_rate: 0.05, always_review_labels: [contract]}
review: {outcomes: [approved, rejected]}
delivery: {webhook_url: "https://example.com/hook"}
"""


_DELETE = object()  # marks a key to remove in _example


def _example(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE)
    for path, value in changes.items():
        target = data
        *parents, last = path.split("__")
        for part in parents:
            target = target.setdefault(part, {})
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return data


def _invalid(data: Any) -> errors.InvalidWorkflow:
    with pytest.raises(errors.InvalidWorkflow) as raised:
        parse_workflow(data)
    return raised.value


def test_the_issue_example_yaml_is_accepted_with_every_value_kept() -> None:
    spec = load_workflow_text(EXAMPLE)
    assert spec.name == "document-review"
    assert spec.labels == ["invoice", "contract", "receipt", "other"]
    assert spec.ai.provider == "python"
    assert spec.ai.options == {"function": "mypkg.mymodule:classify"}
    assert spec.routing.threshold == 0.85
    assert spec.routing.qa_sample_rate == 0.05
    assert spec.routing.always_review_labels == ["contract"]
    assert spec.routing.mode == "fixed"
    assert spec.review.outcomes == ["approved", "rejected"]
    assert spec.delivery.webhook_url == "https://example.com/hook"


def test_the_example_gets_documented_defaults_for_what_it_leaves_out() -> None:
    spec = load_workflow_text(EXAMPLE)
    assert spec.ai.retries == 3
    assert spec.review.auto_outcome == "approved"
    assert spec.review.reject_outcomes == ["rejected"]
    assert spec.final_state_for("rejected") == "rejected"
    assert spec.final_state_for("approved") == "approved"
    assert spec.entities == []


def test_the_example_round_trips_through_canonical_json() -> None:
    spec = load_workflow_text(EXAMPLE)
    again = parse_workflow(json.loads(dump_workflow(spec)))
    assert again == spec
    assert load_workflow_text(json.dumps(_example())) == spec


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"routing__threshold": 1.5}, "routing.threshold"),
        ({"routing__threshold": -0.1}, "routing.threshold"),
        ({"routing__threshold": "high"}, "routing.threshold"),
        ({"routing__qa_sample_rate": 2}, "routing.qa_sample_rate"),
        ({"labels": _DELETE}, "labels"),
        ({"labels": []}, "labels"),
        ({"name": _DELETE}, "name"),
        ({"name": "Document Review!"}, "name"),
        ({"routing__tresh": 0.5}, "routing.tresh"),
        ({"colour": "blue"}, "colour"),
        ({"ai__retries": 99}, "ai.retries"),
        ({"review__outcomes": []}, "review.outcomes"),
        ({"delivery__webhook_url": "ftp://example.com"}, "delivery.webhook_url"),
        ({"entities": [{"type": "amount", "patterns": ["("]}]}, "entities.0.patterns"),
        ({"review__require_comment_on": ["sometimes"]}, "review.require_comment_on.0"),
    ],
)
def test_malformed_workflow_raises_invalid_workflow_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    exc = _invalid(_example(**changes))
    fields = [p["field"] for p in exc.context["problems"]]
    assert field in fields, exc.context["problems"]
    assert f"{field}:" in exc.detail


def test_always_review_label_that_is_not_a_label_is_refused_by_name() -> None:
    exc = _invalid(_example(routing__always_review_labels=["contract", "legal"]))
    assert "routing.always_review_labels" in exc.detail
    assert "legal" in exc.detail


def test_review_if_entities_naming_an_unknown_entity_type_is_refused_by_name() -> None:
    exc = _invalid(_example(routing__review_if_entities=["iban"]))
    assert "routing.review_if_entities" in exc.detail
    assert "iban" in exc.detail


def test_bad_regex_pattern_is_refused_with_the_pattern_and_its_field() -> None:
    exc = _invalid(_example(entities=[{"type": "amount", "patterns": [r"\d+", "[unclosed"]}]))
    assert "entities.0.patterns" in exc.detail
    assert "[unclosed" in exc.detail
    assert "regular expression" in exc.detail


def test_threshold_and_error_budget_together_are_refused_naming_both() -> None:
    exc = _invalid(_example(routing__error_budget=0.02))
    assert "threshold" in exc.detail and "error_budget" in exc.detail
    assert "routing" in [p["field"] for p in exc.context["problems"]]


def test_duplicate_labels_and_unknown_auto_outcome_are_refused() -> None:
    assert "labels must be unique" in _invalid(_example(labels=["a", "a"])).detail
    exc = _invalid(_example(review__auto_outcome="accepted"))
    assert "review" in [p["field"] for p in exc.context["problems"]]
    assert "auto_outcome" in exc.detail


def test_every_problem_is_reported_at_once() -> None:
    exc = _invalid(_example(routing__threshold=1.5, labels=_DELETE, extra=1))
    fields = {p["field"] for p in exc.context["problems"]}
    assert {"routing.threshold", "labels", "extra"} <= fields


@pytest.mark.parametrize("data", [None, [], "name: x", 42])
def test_a_workflow_that_is_not_a_mapping_is_refused(data: Any) -> None:
    exc = _invalid(data)
    assert "mapping" in exc.detail


@pytest.mark.parametrize("text", ["name: [unclosed\nlabels: {", "\x00", "name: a\x07b"])
def test_text_that_is_not_yaml_is_refused_as_invalid_workflow(text: str) -> None:
    with pytest.raises(errors.InvalidWorkflow) as raised:
        load_workflow_text(text)
    assert "not valid YAML" in raised.value.detail


def test_specs_are_frozen_so_a_cached_version_cannot_be_changed() -> None:
    spec = load_workflow_text(EXAMPLE)
    with pytest.raises(pydantic.ValidationError):
        spec.name = "other"  # type: ignore[misc]
    assert isinstance(spec, WorkflowSpec)


@pytest.mark.parametrize(
    ("routing", "mode"),
    [
        ({"threshold": 0.8}, RoutingMode.FIXED),
        ({"error_budget": 0.02}, RoutingMode.ERROR_BUDGET),
        ({}, RoutingMode.ALWAYS_HUMAN),
    ],
)
def test_routing_mode_follows_the_settings_and_serialises_as_its_name(
    routing: dict[str, Any], mode: RoutingMode
) -> None:
    assert RoutingSpec(**routing).mode is mode
    assert json.dumps({"mode": RoutingSpec(**routing).mode}) == json.dumps({"mode": mode.value})


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("docs", True),
        ("0-claims_2", True),
        ("a" * 64, True),
        ("", False),
        ("a" * 65, False),
        ("-docs", False),
        ("_docs", False),
        ("Docs", False),
        ("doc review", False),
        ("docs\n", False),
        ("döcs", False),
    ],
)
def test_one_workflow_name_rule_for_the_spec_and_the_name_checks(name: str, valid: bool) -> None:
    assert is_workflow_name(name) is valid
    try:
        parse_workflow({"name": name, "labels": ["a"]})
    except errors.InvalidWorkflow:
        parsed = False
    else:
        parsed = True
    assert parsed is valid
    if valid:
        check_workflow_name(name)
    else:
        with pytest.raises(errors.InvalidWorkflow, match="is not a workflow name") as refused:
            check_workflow_name(name)
        assert refused.value.context["field"] == "name"
