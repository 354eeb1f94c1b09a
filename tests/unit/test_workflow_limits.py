"""Hostile workflow specs: every number finite and bounded, lists and strings bounded,
YAML alias bombs and deep or huge sources refused, patterns compiled by RE2."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterator
from typing import Any

import annotated_types
import pydantic
import pytest

from signoff.ai import http_provider, openai_provider, resilience
from signoff.domain import errors, patterns, review_fields, yaml_source
from signoff.domain import workflow as wf

MINIMAL: dict[str, Any] = {"name": "t", "labels": ["a", "b"]}
HOSTILE_NUMBERS = [math.inf, -math.inf, math.nan, 1e300, 10**30]
# Minimal valid entries for list-of-model fields, so a walk can reach their fields.
LIST_ITEMS: dict[type[pydantic.BaseModel], dict[str, Any]] = {
    wf.EntityType: {"type": "x"},
    wf.MetadataRule: {"field": "f"},
    review_fields.ReviewField: {"name": "n", "type": "number"},
}


def _members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _walk(
    model: type[pydantic.BaseModel], path: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], Any, pydantic.fields.FieldInfo]]:
    """Every field of `model` and of the models it contains, with its data path."""
    for name, info in model.model_fields.items():
        for member in _members(info.annotation):
            yield (*path, name), member, info
            if isinstance(member, type) and issubclass(member, pydantic.BaseModel):
                yield from _walk(member, (*path, name))
            elif typing.get_origin(member) is list:
                (item,) = typing.get_args(member)
                if isinstance(item, type) and issubclass(item, pydantic.BaseModel):
                    yield from _walk(item, (*path, name, 0))


def _numeric_paths(model: type[pydantic.BaseModel]) -> list[tuple[Any, ...]]:
    return sorted(
        {p for p, member, _ in _walk(model) if member in (int, float)}, key=lambda p: str(p)
    )


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data: dict[str, Any] = {**MINIMAL}
    node: Any = data
    for index, key in enumerate(path[:-1]):
        following = path[index + 1]
        if isinstance(following, int):
            node[key] = [dict(LIST_ITEMS[_model_at(path[: index + 1])])]
        elif isinstance(key, int):
            pass
        else:
            node[key] = dict(node.get(key, {}))
        node = node[key]
    node[path[-1]] = value
    return data


def _model_at(path: tuple[Any, ...]) -> type[pydantic.BaseModel]:
    for candidate, member, _ in _walk(wf.WorkflowSpec):
        if candidate == path and typing.get_origin(member) is list:
            (item,) = typing.get_args(member)
            return typing.cast(type[pydantic.BaseModel], item)
    raise KeyError(path)


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)


SPEC_NUMBERS = _numeric_paths(wf.WorkflowSpec)


def test_the_walk_finds_the_numeric_fields_of_every_section() -> None:
    found = {_dotted(p) for p in SPEC_NUMBERS}
    assert {
        "ai.retries",
        "ai.backoff_seconds",
        "ai.retry_budget_seconds",
        "routing.threshold",
        "routing.error_budget",
        "routing.confidence_level",
        "routing.min_reviewed",
        "routing.qa_sample_rate",
        "review.sla_hours",
        "training.retrain_every",
        "training.min_labels",
    } <= found


@pytest.mark.parametrize("path", SPEC_NUMBERS, ids=_dotted)
@pytest.mark.parametrize("value", HOSTILE_NUMBERS, ids=["inf", "-inf", "nan", "1e300", "10**30"])
def test_every_numeric_spec_field_refuses_non_finite_and_huge_values_naming_it(
    path: tuple[Any, ...], value: Any
) -> None:
    with pytest.raises(errors.InvalidWorkflow) as raised:
        wf.parse_workflow(_with(path, value))
    assert raised.value.context["field"] == _dotted(path), raised.value.detail
    # The models themselves hold the bound, not only the pre-check on the parsed data.
    with pytest.raises(pydantic.ValidationError) as invalid:
        wf.WorkflowSpec.model_validate(_with(path, value))
    assert _dotted(path) in {_dotted(e["loc"]) for e in invalid.value.errors()}


def test_every_numeric_field_declares_an_upper_bound() -> None:
    unbounded = [
        _dotted(p)
        for p, member, info in _walk(wf.WorkflowSpec)
        if member in (int, float)
        and not any(isinstance(m, annotated_types.Le | annotated_types.Lt) for m in info.metadata)
    ]
    assert unbounded == []


def test_every_string_list_and_mapping_field_declares_a_maximum_length() -> None:
    unbounded = [
        _dotted(p)
        for p, member, info in _walk(wf.WorkflowSpec)
        if (member is str or typing.get_origin(member) in (list, dict))
        and not any(isinstance(m, annotated_types.MaxLen) for m in info.metadata)
    ]
    assert unbounded == []


PROVIDER_OPTIONS: list[tuple[type[pydantic.BaseModel], dict[str, Any]]] = [
    (resilience.ResilienceOptions, {}),
    (openai_provider.OpenAIOptions, {"model": "m"}),
    (http_provider.HttpOptions, {"url": "http://127.0.0.1:9/"}),
]


@pytest.mark.parametrize(
    ("model", "required", "path"),
    [
        (model, required, path)
        for model, required in PROVIDER_OPTIONS
        for path in _numeric_paths(model)
    ],
    ids=lambda v: (
        v.__name__ if isinstance(v, type) else (_dotted(v) if isinstance(v, tuple) else "")
    ),
)
@pytest.mark.parametrize("value", HOSTILE_NUMBERS, ids=["inf", "-inf", "nan", "1e300", "10**30"])
def test_every_numeric_provider_option_refuses_non_finite_and_huge_values_naming_it(
    model: type[pydantic.BaseModel], required: dict[str, Any], path: tuple[Any, ...], value: Any
) -> None:
    with pytest.raises(errors.InvalidWorkflow) as raised:
        resilience.parse_options(model, {**required, path[0]: value}, "p", secret_keys={})
    assert raised.value.context["field"] == f"ai.options.{path[0]}"


def test_sla_hours_infinity_in_yaml_is_refused_naming_the_field() -> None:
    with pytest.raises(errors.InvalidWorkflow) as raised:
        wf.load_workflow_text("name: t\nlabels: [a]\nreview: {sla_hours: .inf}\n")
    assert raised.value.context["field"] == "review.sla_hours"


def test_nan_anywhere_in_the_options_is_refused_naming_its_path() -> None:
    with pytest.raises(errors.InvalidWorkflow) as raised:
        wf.load_workflow_text("name: t\nlabels: [a]\nai: {options: {deep: {x: .nan}}}\n")
    assert raised.value.context["field"] == "ai.options.deep.x"


def _laughs(levels: int, fan_out: int, leaves: int = 9) -> str:
    lines = ["name: t", "labels: [a]", f"l0: &l0 [{', '.join(['lol'] * leaves)}]"]
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fan_out)}]")
    return "\n".join(lines) + "\n"


def test_a_classic_alias_bomb_is_refused_for_its_alias_count() -> None:
    bomb = _laughs(levels=9, fan_out=9)
    assert len(bomb) < 600  # a few hundred bytes that would expand to 9**10 strings
    with pytest.raises(errors.InvalidWorkflow) as raised:
        wf.load_workflow_text(bomb)
    assert "more than 32 YAML aliases" in raised.value.detail


def test_an_alias_bomb_within_the_alias_count_is_refused_for_its_expanded_size() -> None:
    bomb = _laughs(levels=4, fan_out=8, leaves=10)  # 32 aliases, 40,960 strings expanded
    with pytest.raises(errors.InvalidWorkflow) as raised:
        wf.load_workflow_text(bomb)
    assert "more than 20000 keys and elements" in raised.value.detail


def test_merge_keys_count_as_aliases() -> None:
    lines = ["name: t", "labels: [a]", "base: &b {x: 1}"]
    lines += [f"m{i}: {{<<: *b}}" for i in range(40)]
    with pytest.raises(errors.InvalidWorkflow) as raised:
        wf.load_workflow_text("\n".join(lines))
    assert "aliases" in raised.value.detail


def test_a_few_anchors_and_aliases_are_accepted() -> None:
    text = """
name: t
labels: [a, b]
entities:
  - {type: amount, patterns: &money ['[0-9]+\\.[0-9]{2}']}
  - {type: total, patterns: *money}
"""
    spec = wf.load_workflow_text(text)
    assert spec.entities[1].patterns == spec.entities[0].patterns == ["[0-9]+\\.[0-9]{2}"]


def test_deep_nesting_is_refused_with_a_message_not_a_recursion_error() -> None:
    deep = "name: t\nlabels: [a]\nai: {options: {x: " + "[" * 50_000 + "]" * 50_000 + "}}\n"
    with pytest.raises(errors.InvalidWorkflow) as raised:
        wf.load_workflow_text(deep)
    assert "nested deeper than 16 levels" in raised.value.detail


def test_a_source_over_the_size_limit_is_refused_naming_the_limit() -> None:
    huge = "name: t\nlabels: [a]\n" + "# padding\n" * 30_000
    with pytest.raises(errors.InvalidWorkflow) as raised:
        wf.load_workflow_text(huge)
    assert raised.value.context["limit"] == "max_bytes"
    assert str(yaml_source.DEFAULT_LIMITS.max_bytes) in raised.value.detail


def test_a_mapping_spec_gets_the_same_structure_bounds_as_text() -> None:
    shared = ["x"] * 1000
    data = {**MINIMAL, "ai": {"options": {f"k{i}": shared for i in range(30)}}}
    with pytest.raises(errors.InvalidWorkflow) as raised:
        wf.parse_workflow(data)
    assert "keys and elements" in raised.value.detail


@pytest.mark.parametrize(
    "pattern",
    [r"(a)\1", r"(?=a)b", r"(?<!x)y", r"a{2000}"],
    ids=["backref", "lookahead", "lookbehind", "repeat"],
)
def test_patterns_re2_cannot_run_are_refused_at_apply_naming_the_field(pattern: str) -> None:
    data = {**MINIMAL, "entities": [{"type": "x", "patterns": ["ok[0-9]+", pattern]}]}
    with pytest.raises(errors.InvalidWorkflow) as raised:
        wf.parse_workflow(data)
    assert raised.value.context["field"] == "entities.0.patterns"
    assert "RE2" in raised.value.detail


def test_user_patterns_run_on_re2() -> None:
    compiled = patterns.compile_pattern(r"(a+)+$")
    assert type(compiled).__module__.split(".")[0] == patterns.ENGINE == "re2"
    assert compiled.search("a" * 100_000 + "!") is None


@pytest.mark.parametrize(
    "value",
    [
        "9" * 5000,
        "2001-13-45",
        "!!timestamp 99999-01-01",
        "!!python/name:os.system",
    ],
    ids=["long-int", "bad-date", "bad-timestamp", "python-tag"],
)
def test_values_the_yaml_constructors_cannot_build_are_refused_as_invalid_yaml(value: str) -> None:
    with pytest.raises(errors.InvalidWorkflow) as raised:
        wf.load_workflow_text(f"name: t\nlabels: [a]\nai: {{options: {{x: {value}}}}}\n")
    assert raised.value.context["field"] in ("(source)", "ai.options.x")
