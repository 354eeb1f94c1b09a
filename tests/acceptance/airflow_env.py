"""A virtualenv with real apache-airflow for the Airflow tests, made once and reused.

It lives outside the repository (`~/.cache/signoff-tests`, or `SIGNOFF_TEST_CACHE`), holds
Airflow and the client's own dependencies, and reads signoff from the checkout through
PYTHONPATH, so any checkout can use it. Outside CI a machine that cannot reach the
package index skips; in CI (`CI=true`) a failed install fails the run.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import IN_CI

#: Pinned so the install is reproducible and pip need not resolve (install time: see docs).
AIRFLOW_VERSION = "3.1.8"
REQUIREMENTS = [f"apache-airflow=={AIRFLOW_VERSION}", "httpx>=0.27", "tenacity>=8.2"]
CACHE = Path(os.environ.get("SIGNOFF_TEST_CACHE", Path.home() / ".cache" / "signoff-tests"))
VENV = CACHE / f"airflow-{AIRFLOW_VERSION}-venv"
_OFFLINE = (
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "No matching distribution found",
    "Could not fetch URL",
)


def airflow_python() -> Path:
    """The virtualenv's python, installing it first when it is not there yet."""
    python = VENV / "bin" / "python"
    ready = VENV / ".ready"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "airflow-venv.lock", "w") as lock:
        # Two test runs at once must not build the same virtualenv twice.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            return python
        shutil.rmtree(VENV, ignore_errors=True)
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        done = subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                *REQUIREMENTS,
            ],
            capture_output=True,
            text=True,
            timeout=1500,
        )
        if done.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            tail = done.stderr[-2000:]
            if not IN_CI and any(sign in done.stderr for sign in _OFFLINE):
                pytest.skip(f"cannot install apache-airflow (package index unreachable): {tail}")
            pytest.fail(f"installing apache-airflow failed:\n{tail}")
        ready.write_text(
            f"apache-airflow {AIRFLOW_VERSION} installed in {time.monotonic() - started:.0f}s\n"
        )
        return python
