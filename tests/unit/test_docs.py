"""Documentation stays true: generated references match the code."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from signoff import settings_doc
from signoff.domain.workflow import WorkflowSpec
from signoff.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


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


def _env_names(model: type[BaseModel], prefix: str = "SIGNOFF_") -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _env_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.add(f"{prefix}{name.upper()}")
    return names


def test_every_setting_the_docs_name_exists() -> None:
    # The test suite's own knobs.
    known = _env_names(Settings) | {
        "SIGNOFF_TEST_POSTGRES_URL",
        "SIGNOFF_SCHEMATHESIS_EXAMPLES",
        "SIGNOFF_SCHEMATHESIS_SECONDS",
    }
    pages = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(DOCS.rglob("*.md"))]
    unknown = {
        f"{page.relative_to(ROOT)}: {name}"
        for page in pages
        # Not inside a longer name: AIRFLOW_CONN_SIGNOFF_DEFAULT is Airflow's, not a setting.
        for name in re.findall(r"(?<![A-Z0-9_])SIGNOFF_[A-Z0-9_]*[A-Z0-9]", page.read_text())
        # SIGNOFF_CREDENTIAL_* names credentials workflows may use, not settings.
        if name not in known and not name.startswith("SIGNOFF_CREDENTIAL")
    }
    assert not unknown, f"settings that do not exist: {sorted(unknown)}"
