"""The documentation site builds strictly, and its generated pages and diagrams match the code."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from signoff.docs_site import __main__ as docs_site
from signoff.docs_site import error_budget_figure, rest_reference
from signoff.domain import error_budget, states
from signoff.domain.workflow import WorkflowSpec
from tests.unit.test_docs import _paths

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MKDOCS = Path(sys.executable).parent / "mkdocs"


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_the_site_builds_with_strict_checks_and_every_page_in_the_nav(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = _build(ROOT / "mkdocs.yml", site)
    assert result.returncode == 0, result.stdout + result.stderr
    for page in ("concepts", "operations", "security", "benchmarks", "reference/rest"):
        assert (site / page / "index.html").is_file(), page
    home = (site / "index.html").read_text()
    assert 'id="quick-start"' in home and "signoff.db.demo-key" in home
    concepts = (site / "concepts" / "index.html").read_text()
    assert concepts.count('class="mermaid"') == 2  # the states diagram and the routing chart
    assert 'src="../assets/error-budget.svg"' in concepts
    assert (site / "assets" / "error-budget.svg").is_file()


@pytest.mark.parametrize(
    ("page", "problem"),
    [
        ("[a link](missing.md)", "missing.md"),
        ("# Not in the nav", 'not included in the "nav"'),
    ],
    ids=["broken-link", "page-outside-the-nav"],
)
def test_the_strict_build_fails_on_a_broken_link_or_a_page_outside_the_nav(
    tmp_path: Path, page: str, problem: str
) -> None:
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    extra = tmp_path / "docs" / "extra.md"
    extra.write_text(f"{page}\n")
    config = tmp_path / "mkdocs.yml"
    if "missing.md" in page:
        # In the nav, so that only the link is wrong.
        nav = config.read_text().replace(
            "  - Home: index.md", "  - Home: index.md\n  - Extra: extra.md"
        )
        config.write_text(nav)
    result = _build(config, tmp_path / "site")
    assert result.returncode != 0
    assert problem in result.stdout + result.stderr


def test_the_generated_pages_are_current() -> None:
    assert docs_site.stale(DOCS) == [], "generated docs are stale: run python -m signoff.docs_site"


def test_the_check_mode_reports_a_stale_page(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    assert docs_site.main([str(docs)]) == 0
    assert docs_site.main(["--check", str(docs)]) == 0
    (docs / "reference" / "workflow.md").write_text("# Workflow reference\n\nold\n")
    assert docs_site.main(["--check", str(docs)]) == 1


def test_the_workflow_reference_lists_every_field_of_the_workflow_model() -> None:
    text = (DOCS / "reference" / "workflow.md").read_text()
    listed = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE))
    # Fields holding a model are listed with each of its fields; lists of models under `name[].`.
    missing = {path for path in _paths(WorkflowSpec) if path not in listed}
    assert not missing, missing
    assert "`routing.metadata_rules[].one_of`" in text
    assert "| `ai.retries` | integer | `3` | ≥ 0; ≤ 10 |" in text


def test_the_rest_reference_lists_every_operation_and_schema_of_the_openapi_document() -> None:
    spec = rest_reference.openapi_document()
    text = (DOCS / "reference" / "rest.md").read_text()
    for path, operations in spec["paths"].items():
        for method in operations:
            assert f"### `{method.upper()} {path}`" in text, (method, path)
    for name in spec["components"]["schemas"]:
        assert f"### {name}\n" in text, name


def test_the_states_diagram_draws_exactly_the_transition_table() -> None:
    text = (DOCS / "concepts.md").read_text()
    diagram = text.split("```mermaid\nstateDiagram-v2\n", 1)[1].split("```", 1)[0]
    drawn = {
        (states.ItemState(source), states.ItemState(target))
        for source, target in re.findall(r"^\s*(\w+) --> (\w+)", diagram, flags=re.MULTILINE)
    }
    assert drawn == set(states.TRANSITIONS)


def test_the_error_budget_figure_marks_the_threshold_routing_learns_from_its_data() -> None:
    svg = (DOCS / "assets" / "error-budget.svg").read_text()
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    choice = error_budget.choose_threshold(
        error_budget_figure.observations(),
        error_budget=error_budget_figure.BUDGET,
        confidence_level=error_budget_figure.LEVEL,
        min_reviewed=30,
    )
    assert choice.threshold is not None and choice.upper_bound is not None
    assert choice.upper_bound <= error_budget_figure.BUDGET
    assert f"learned threshold {choice.threshold:.2f}" in svg
    assert f"error budget {error_budget_figure.BUDGET:.0%}" in svg
