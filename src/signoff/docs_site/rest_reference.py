"""The REST reference page, generated from the application's own OpenAPI document."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from signoff.app import create_app
from signoff.settings import Settings

HEADER = """# REST reference

Generated from the OpenAPI document of `signoff serve` (`GET /openapi.json`, the same
document at `/docs` on a running server) by `python -m signoff.docs_site`; a test fails
when this page and the code disagree. Every endpoint answers errors with one JSON shape,
[`ErrorPublic`](#errorpublic): `{"error": code, "detail": ..., "field": ...}`.
Authenticate with `Authorization: Bearer KEY` (`signoff keys create`).
"""
METHODS = ("get", "put", "post", "patch", "delete")


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, from an app on a throwaway SQLite file (nothing is migrated)."""
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(
            database_url=f"sqlite:///{Path(directory) / 'openapi.db'}",
            environment="development",
        )
        app = create_app(settings)
        try:
            return app.openapi()
        finally:
            app.state.ctx.close()


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _schema_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _link(name: str) -> str:
    return f"[`{name}`](#{name.lower()})"


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return _link(_schema_name(schema["$ref"]))
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            return " or ".join(_type(option) for option in schema[combined])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        return f"mapping of {_type(extra)}" if isinstance(extra, dict) and extra else "mapping"
    if "format" in schema:
        return f"{kind} ({schema['format']})"
    return str(kind)


def _body_type(content: dict[str, Any]) -> str:
    kinds = []
    for media, entry in content.items():
        schema = entry.get("schema")
        kinds.append(f"`{media}` {_type(schema)}" if schema else f"`{media}`")
    return ", ".join(kinds)


def _operation(method: str, path: str, op: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", ""]
    if op.get("description") or op.get("summary"):
        lines += [" ".join(str(op.get("description") or op["summary"]).split()), ""]
    parameters = op.get("parameters", [])
    if parameters:
        lines += [
            "| parameter | in | type | required | description |",
            "| --- | --- | --- | --- | --- |",
        ]
        for parameter in parameters:
            lines.append(
                f"| `{parameter['name']}` | {parameter['in']} | {_type(parameter.get('schema', {}))} "
                f"| {'yes' if parameter.get('required') else 'no'} "
                f"| {_cell(parameter.get('description', ''))} |"
            )
        lines.append("")
    body = op.get("requestBody")
    if body:
        lines += [f"Body: {_body_type(body.get('content', {}))}", ""]
    lines += ["| status | meaning | body |", "| --- | --- | --- |"]
    for status in sorted(op.get("responses", {})):
        answer = op["responses"][status]
        lines.append(
            f"| {status} | {_cell(answer.get('description', ''))} "
            f"| {_body_type(answer.get('content', {}))} |"
        )
    return [*lines, ""]


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [" ".join(schema["description"].split()), ""]
    properties = schema.get("properties", {})
    if not properties:
        return [*lines, f"Type: {_type(schema)}", ""]
    required = set(schema.get("required", []))
    lines += ["| field | type | required | description |", "| --- | --- | --- | --- |"]
    for field, spec in properties.items():
        lines.append(
            f"| `{field}` | {_type(spec)} | {'yes' if field in required else 'no'} "
            f"| {_cell(spec.get('description', ''))} |"
        )
    return [*lines, ""]


def render(document: dict[str, Any] | None = None) -> str:
    """The page: endpoints grouped by tag in the document's order, then every schema."""
    spec = document or openapi_document()
    groups: dict[str, list[str]] = {}
    for path, operations in spec["paths"].items():
        for method in METHODS:
            if method in operations:
                op = operations[method]
                tag = (op.get("tags") or ["other"])[0]
                groups.setdefault(tag, []).extend(_operation(method, path, op))
    lines = [HEADER, f"API version {spec['info']['version']}.", ""]
    for tag, operations in groups.items():
        lines += [f"## {tag.capitalize()}", "", *operations]
    lines += ["## Schemas", ""]
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        lines += _schema(name, schema)
    return "\n".join(lines).rstrip() + "\n"
