"""Fixtures shared by the orchestrator acceptance tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import signoff_stack


def _stack(url: str, workdir: Path) -> Iterator[signoff_stack.Stack]:
    deploy = signoff_stack.Stack(url, workdir)
    try:
        yield deploy
    finally:
        deploy.close()


@pytest.fixture
def stack(sqlite_url: str, tmp_path: Path) -> Iterator[signoff_stack.Stack]:
    """A signoff deployment's processes (and the orchestrator's), stopped after the test."""
    yield from _stack(sqlite_url, tmp_path)


@pytest.fixture
def db_stack(db_url: str, tmp_path: Path) -> Iterator[signoff_stack.Stack]:
    """The same on SQLite and on PostgreSQL."""
    yield from _stack(db_url, tmp_path)
