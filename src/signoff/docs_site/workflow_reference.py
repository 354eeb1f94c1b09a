"""The workflow reference page, generated from the pydantic model `WorkflowSpec` itself."""

from __future__ import annotations

import json
import typing
from typing import Any

from pydantic import BaseModel

from signoff.domain.workflow import WorkflowSpec

HEADER = """# Workflow reference

Generated from `signoff.domain.workflow.WorkflowSpec` by `python -m signoff.docs_site`;
a test fails when this page and the code disagree. [Workflows](../workflows.md) explains
what the fields do together, with examples. A workflow is YAML or JSON; a field not
listed here is refused, and so is a number outside its bounds.
"""

_BOUNDS = (
    ("minimum", "≥ {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "≤ {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "length ≥ {}"),
    ("maxLength", "length ≤ {}"),
    ("minItems", "items ≥ {}"),
    ("maxItems", "items ≤ {}"),
    ("maxProperties", "keys ≤ {}"),
    ("pattern", "matches `{}`"),
)


TABLE_HEAD = "| field | type | default | bounds | description |\n| --- | --- | --- | --- | --- |"


def _kind(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(f"`{value}`" for value in schema["enum"])
    if "anyOf" in schema:
        kinds = [_kind(option) for option in schema["anyOf"] if option.get("type") != "null"]
        optional = any(option.get("type") == "null" for option in schema["anyOf"])
        return " or ".join(kinds) + (" or null" if optional else "")
    if "$ref" in schema:
        return "mapping"
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items", {})
        return f"list of {_kind(items)}" if items else "list"
    if kind == "object":
        return "mapping"
    return str(kind or "any")


def _bounds(schema: dict[str, Any]) -> list[str]:
    found = [text.format(schema[key]) for key, text in _BOUNDS if key in schema]
    items = schema.get("items")
    if isinstance(items, dict):
        found += [f"each: {bound}" for bound in _bounds(items)]
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            found += _bounds(option)
    return found


def _default(model: type[BaseModel], name: str) -> str:
    field = model.model_fields[name]
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "see below"
    if value is None:
        return "(unset)"
    return f"`{json.dumps(value)}`"


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (directly or as list items), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _nested_model(argument)
        if found is not None:
            return found
    return None


def _section(model: type[BaseModel], prefix: str, sections: list[str]) -> None:
    """Append the table of `model`'s fields, then the tables of the models it holds."""
    properties = model.model_json_schema()["properties"]
    title = f"`{prefix.rstrip('.')}`" if prefix else "Top level"
    rows = [f"## {title}\n", TABLE_HEAD]
    nested: list[tuple[type[BaseModel], str]] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        schema = properties[name]
        inner = _nested_model(field.annotation)
        description = field.description or ((inner.__doc__ or "") if inner else "")
        cells = [
            f"`{path}`",
            _kind(schema),
            _default(model, name),
            "; ".join(_bounds(schema)),
            " ".join(description.split()),
        ]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        if inner is not None:
            listed = _kind(schema).startswith("list")
            nested.append((inner, f"{path}[]." if listed else f"{path}."))
    sections.append("\n".join(rows) + "\n")
    for inner, inner_prefix in nested:
        _section(inner, inner_prefix, sections)


def render() -> str:
    """The whole page: the top-level fields, then each nested section in field order."""
    sections: list[str] = []
    _section(WorkflowSpec, "", sections)
    return HEADER + "\n" + "\n".join(sections)
