"""Real apache-airflow for the Airflow tests: its virtualenv, a migrated home, and DAG runs.

The virtualenv comes from tests/framework_venv.py (cached outside the repository, built
by the first run that needs it; signoff is read from this checkout through PYTHONPATH).
`prepare_home` makes an Airflow home with its own SQLite database and a DAGs folder;
`run_dags` runs `dag.test()` for each requested run in that environment
(tests/acceptance/airflow_dag_runs.py) and returns what each run produced.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests import framework_venv

#: Pinned so the install is reproducible and pip need not resolve (install time: see docs).
AIRFLOW_VERSION = "3.1.8"
REQUIREMENTS = [f"apache-airflow=={AIRFLOW_VERSION}", "httpx>=0.27", "tenacity>=8.2"]
RUNNER = Path(__file__).with_name("airflow_dag_runs.py")
RESULT_PREFIX = "RESULT "


def venv() -> framework_venv.FrameworkVenv:
    """The Airflow virtualenv, installed first when it is not there yet."""
    return framework_venv.ensure(f"airflow-{AIRFLOW_VERSION}", REQUIREMENTS)


def prepare_home(home: Path, dags: dict[str, str | Path]) -> dict[str, str]:
    """A migrated Airflow home in `home` with `dags` ({file name: source or path}); its env."""
    airflow = venv()
    folder = home / "dags"
    folder.mkdir(parents=True)
    for name, source in dags.items():
        if isinstance(source, Path):
            shutil.copy(source, folder / name)
        else:
            (folder / name).write_text(source)
    env = {k: v for k, v in airflow.env().items() if not k.startswith(("SIGNOFF_", "AIRFLOW"))} | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHON": str(airflow.python),
    }
    migrated = subprocess.run(
        [str(airflow.python), "-m", "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    return env


def run_env(env: dict[str, str], url: str, api_key: str, deferred: Path) -> dict[str, str]:
    """`env` with the `signoff_default` connection and the folder deferred reviews mark."""
    connection = {"conn_type": "signoff", "host": url, "password": api_key}
    return env | {
        "AIRFLOW_CONN_SIGNOFF_DEFAULT": json.dumps(connection),
        "DEFERRED_DIR": str(deferred),
    }


def runner_argv(env: dict[str, str], runs: list[dict[str, Any]]) -> list[str]:
    """The command that `dag.test()`s each of `runs` ({"dag", "review_task", "conf"})."""
    return [env["PYTHON"], str(RUNNER), env["AIRFLOW__CORE__DAGS_FOLDER"], json.dumps(runs)]


def results(output: str) -> list[dict[str, Any]]:
    """The runs' results the runner printed, in order."""
    return [
        json.loads(line[len(RESULT_PREFIX) :])
        for line in output.splitlines()
        if line.startswith(RESULT_PREFIX)
    ]


def run_dags(
    env: dict[str, str], url: str, api_key: str, runs: list[dict[str, Any]], deferred: Path
) -> list[dict[str, Any]]:
    """Run `runs` to completion; their results."""
    done = subprocess.run(
        runner_argv(env, runs),
        env=run_env(env, url, api_key, deferred),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    return results(done.stdout)
