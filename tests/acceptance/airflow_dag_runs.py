"""Run inside the Airflow test virtualenv: `dag.test()` each requested run, print results.

argv: the DAGs folder, then a JSON list of {"dag": module name, "conf": {...}}. Prints one
JSON line per run: the run's state, each task's state, the review task's XCom and the
items whose review deferred.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from sqlalchemy import select

from signoff.integrations.airflow import triggers

#: Items whose review task deferred: the real trigger runs, this only records its item.
DEFERRED: list[int] = []
_run = triggers.SignoffDecisionTrigger.run


def _recording_run(self: triggers.SignoffDecisionTrigger) -> Any:
    DEFERRED.append(self.item_id)
    # Tells the test's reviewer that the task is deferred (it decides only then).
    (Path(os.environ["DEFERRED_DIR"]) / str(self.item_id)).touch()
    return _run(self)


triggers.SignoffDecisionTrigger.run = _recording_run  # type: ignore[method-assign]


def _load(folder: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def _xcom(run_id: str, dag_id: str, task_id: str) -> Any:
    with create_session() as session:
        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == run_id,
                XComModel.task_id == task_id,
                XComModel.key == "return_value",
            )
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def main() -> None:
    folder = Path(sys.argv[1])
    for run in json.loads(sys.argv[2]):
        dag = _load(folder, run["dag"])
        dag_run = dag.test(run_conf=run["conf"])
        states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
        result = {
            "dag": run["dag"],
            "state": str(dag_run.state),
            "tasks": states,
            "review": _xcom(dag_run.run_id, dag.dag_id, run["review_task"]),
            "deferred_items": list(DEFERRED),
        }
        DEFERRED.clear()
        print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
