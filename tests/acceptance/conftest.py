"""Fixtures shared by the orchestrator acceptance tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import signoff_stack


@pytest.fixture
def stack(sqlite_url: str, tmp_path: Path) -> Iterator[signoff_stack.Stack]:
    """A signoff deployment's processes (and the orchestrator's), stopped after the test."""
    deploy = signoff_stack.Stack(sqlite_url, tmp_path)
    try:
        yield deploy
    finally:
        deploy.close()
