"""Virtualenvs with a real orchestrator (Prefect, Temporal) installed from PyPI, kept in a cache.

Each orchestrator lives in its own virtualenv outside the repository
(`~/.cache/signoff-tests/<name>-<hash of the requirements>`), built by the first test
run that needs it and reused after. signoff itself is not installed there: the
processes run with `PYTHONPATH=<repo>/src`, so the code under test is always this
working copy's.

Outside CI a machine that cannot reach the package index skips these tests; in CI
(`CI=true`) a failed install fails them.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("SIGNOFF_TEST_CACHE", Path.home() / ".cache" / "signoff-tests"))
INSTALL_TIMEOUT = 1500.0


@dataclass(frozen=True)
class FrameworkVenv:
    """A ready virtualenv: its interpreter, its bin folder and how long building it took."""

    path: Path
    install_seconds: float | None  # None when an existing one was reused

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for a process of this venv that imports signoff from this tree."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
        env["PYTHONPATH"] = str(REPO / "src")
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env.update(extra)
        return env


def _base_python() -> str:
    # The interpreter behind the test run's venv, so the new venv does not nest in it.
    return getattr(sys, "_base_executable", None) or sys.executable


def ensure(name: str, requirements: list[str]) -> FrameworkVenv:
    """The cached venv for `requirements`, built (pip from the package index) when missing."""
    digest = hashlib.sha256("\n".join([sys.version, *requirements]).encode()).hexdigest()[:12]
    path = CACHE / f"{name}-{digest}"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Two test runs at once (two worktrees, say) build it once: the second waits here.
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(name, path, requirements)


def _build(name: str, path: Path, requirements: list[str]) -> FrameworkVenv:
    if (path / ".complete").exists():
        return FrameworkVenv(path, None)
    if path.exists():
        shutil.rmtree(path)  # a build that was interrupted
    started = time.monotonic()
    try:
        subprocess.run(
            [_base_python(), "-m", "venv", str(path)], check=True, capture_output=True, timeout=120
        )
        result = subprocess.run(
            [str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(path, ignore_errors=True)
        pytest.fail(f"installing {name} timed out: {exc}")
    if result.returncode != 0:
        shutil.rmtree(path, ignore_errors=True)
        _unavailable(f"pip install {' '.join(requirements)} failed:\n{result.stderr[-3000:]}")
    seconds = time.monotonic() - started
    (path / ".complete").write_text(f"{seconds:.1f}\n")
    return FrameworkVenv(path, seconds)


NETWORK_ERRORS = (
    "NewConnectionError",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "No matching distribution found",
)


def _unavailable(reason: str) -> None:
    # In CI a broken install is a failure; on a developer machine offline it is a skip.
    offline = any(marker in reason for marker in NETWORK_ERRORS)
    if os.environ.get("CI") == "true" or not offline:
        pytest.fail(reason)
    pytest.skip(f"the package index is unreachable: {reason[-500:]}")
