"""Render the settings reference (docs/settings.md) from the Settings model itself."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from signoff.settings import Settings

HEADER = """# Settings reference

Generated from `signoff.settings.Settings` by `python -m signoff.settings_doc`; a test
fails when this page and the code disagree. Every setting is an environment variable;
nested sections join with a double underscore.

| variable | default | description |
| --- | --- | --- |
"""


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        annotation: Any = field.annotation
        env = f"{prefix}{name.upper()}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(_rows(annotation, f"{env}__"))
            continue
        default = field.get_default(call_default_factory=True)
        shown = "(unset)" if default is None else f"`{default}`" if default != "" else "(empty)"
        rows.append(f"| `{env}` | {shown} | {field.description or ''} |")
    return rows


def render() -> str:
    return HEADER + "\n".join(_rows(Settings, "SIGNOFF_")) + "\n"


if __name__ == "__main__":
    print(render(), end="")
