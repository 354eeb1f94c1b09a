"""Fixtures of the fault suite: a deployment of real processes on each dialect."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import stack as stacks
from tests.faults import traffic as wire


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fault_db_url(request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database on each dialect (fixtures sqlite_url / pg_url)."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def stack(fault_db_url: str, tmp_path: Path) -> Iterator[stacks.Stack]:
    deployment = stacks.Stack(fault_db_url, tmp_path)
    try:
        yield deployment
    finally:
        deployment.close()


@pytest.fixture
def receiver() -> Iterator[wire.Receiver]:
    with wire.receiving() as endpoint:
        yield endpoint
