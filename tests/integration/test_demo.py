"""`signoff demo`, run twice in an empty directory as `make demo` runs it (without serving)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from signoff.storage import tables as t

pytestmark = pytest.mark.slow


def _demo(workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    return subprocess.run(
        [str(Path(sys.executable).parent / "signoff"), "demo", "--no-serve"],
        cwd=workdir,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_demo_history_spans_two_weeks_with_reviewer_corrections_and_reuses_its_key(
    tmp_path: Path,
) -> None:
    first = _demo(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    key_file = tmp_path / "signoff.db.demo-key"
    key = key_file.read_text().strip()
    assert key in first.stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'signoff.db'}")
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                t.items.c.created_at, t.items.c.route, t.items.c.override, t.items.c.decided_by
            )
        ).all()
        models = connection.execute(sa.select(sa.func.count()).select_from(t.model_versions))
        model_versions = models.scalar_one()
    days = {row.created_at.date() for row in rows}
    decided = [row for row in rows if row.decided_by is not None]
    assert len(days) >= 12, sorted(days)
    assert any(row.route == "auto" for row in decided)
    assert any(row.route == "human" for row in decided)
    overrides = [row for row in decided if row.override]
    assert overrides, "the simulated reviewer never corrected the model"
    assert len(overrides) < len(decided) / 5, "corrections should be the exception"
    assert sum(row.decided_by is None for row in rows) == 40  # fresh items for the visitor
    assert model_versions > 1  # the model retrained from reviews along the way

    second = _demo(tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert key in second.stdout
    with engine.connect() as connection:
        keys = connection.execute(sa.select(sa.func.count()).select_from(t.api_keys))
        assert keys.scalar_one() == 1
        count = connection.execute(sa.select(sa.func.count()).select_from(t.items))
        assert count.scalar_one() == len(rows)
    engine.dispose()
