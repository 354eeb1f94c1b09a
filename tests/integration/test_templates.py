"""`signoff init TEMPLATE` and `signoff demo --template NAME`, as a newcomer runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from signoff import templates
from signoff.domain import workflow as wf
from signoff.storage import tables as t

pytestmark = pytest.mark.slow


def _signoff(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    return subprocess.run(
        [str(Path(sys.executable).parent / "signoff"), *args],
        cwd=workdir,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("name", list(templates.TEMPLATES))
def test_init_writes_a_valid_workflow_labelled_samples_and_a_readme(
    tmp_path: Path, name: str
) -> None:
    result = _signoff(tmp_path, "init", name, "--samples", "50")
    assert result.returncode == 0, result.stdout + result.stderr
    target = tmp_path / name
    spec = wf.load_workflow_text((target / "workflow.yaml").read_text())
    assert spec.name == name
    rows = [json.loads(line) for line in (target / "sample.jsonl").read_text().splitlines()]
    assert len(rows) == 50
    assert {row["label"] for row in rows} <= set(spec.labels)
    assert len({row["label"] for row in rows}) > 1
    readme = (target / "README.md").read_text()
    assert f"signoff demo --template {name}" in readme

    again = _signoff(tmp_path, "init", name)
    assert again.returncode == 1
    assert "--force" in again.stderr and "Traceback" not in again.stderr


def test_init_of_an_unknown_template_lists_the_ones_there_are(tmp_path: Path) -> None:
    result = _signoff(tmp_path, "init", "payroll")
    assert result.returncode == 1
    assert "content-moderation" in " ".join(result.stderr.split())
    assert not (tmp_path / "payroll").exists()


@pytest.mark.parametrize("name", [n for n in templates.TEMPLATES if n != "document-review"])
def test_each_template_demo_learns_to_decide_part_of_its_items(tmp_path: Path, name: str) -> None:
    # document-review is `signoff demo` itself (tests/integration/test_demo.py).
    result = _signoff(tmp_path, "demo", "--template", name, "--no-serve")
    assert result.returncode == 0, result.stdout + result.stderr
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'signoff.db'}")
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(t.items.c.route, t.items.c.decided_by, t.items.c.metadata)
            .select_from(t.items.join(t.workflows, t.workflows.c.id == t.items.c.workflow_id))
            .where(t.workflows.c.name == name)
        ).all()
    engine.dispose()
    decided = [r for r in rows if r.decided_by is not None]
    automated = sum(r.route == "auto" for r in decided) / len(decided)
    print(f"{name}: {len(decided)} decided, automation {automated:.1%}")
    assert 0.15 <= automated < 1.0, automated
    assert sum(r.decided_by is None for r in rows) == 40  # fresh items for the visitor
    if name == "customer-onboarding":
        # A sanctions hit never goes through on its own.
        hits = [r for r in decided if r.metadata.get("sanctions_hit")]
        assert hits and all(r.route == "human" for r in hits)
