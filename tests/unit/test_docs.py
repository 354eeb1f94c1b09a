"""Documentation stays true: generated references match the code."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from signoff import settings_doc
from signoff.domain.workflow import WorkflowSpec

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_settings_reference_matches_the_settings_model() -> None:
    assert (DOCS / "settings.md").read_text() == settings_doc.render(), (
        "docs/settings.md is stale: run python -m signoff.settings_doc > docs/settings.md"
    )


def _paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths.extend(_paths(annotation, f"{prefix}{name}."))
        else:
            paths.append(f"{prefix}{name}")
    return paths


def test_every_workflow_field_is_documented() -> None:
    text = (DOCS / "workflows.md").read_text()
    missing = [p for p in _paths(WorkflowSpec) if f"`{p}`" not in text]
    assert not missing, f"docs/workflows.md does not describe {missing}"
