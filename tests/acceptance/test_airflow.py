"""Real apache-airflow 3 runs DAGs with signoff review steps against a live signoff server.

`dag.test()` in Airflow's own virtualenv; the signoff server (with its workers) runs here,
and a reviewer decides through the REST API while the review task is deferred.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signoff.client import Client
from signoff.services.context import Context
from signoff.settings import Settings
from signoff.workers.runner import WorkerPool
from tests import signoff_stack
from tests.acceptance import airflow_env
from tests.conftest import CHECKOUT, FAKE_WORKFLOW, Keys, make_settings
from tests.live_server import serve

pytestmark = pytest.mark.slow

EXAMPLE = CHECKOUT / "examples" / "airflow" / "hitl_document_review.py"
SLOW_WORKFLOW = FAKE_WORKFLOW.replace("name: docs", "name: slow")
TIMEOUT_DAG = """
from datetime import timedelta

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

from signoff.integrations.airflow import SignoffBranchOperator, SignoffReviewOperator

with DAG("review_with_timeout", schedule=None, render_template_as_native_obj=True,
         params={"document": {}}) as dag:
    review = SignoffReviewOperator(
        task_id="review", workflow="slow", content="{{ params.document }}",
        execution_timeout=timedelta(seconds=3), defaults="rejected", poll_interval=1,
    )
    branch = SignoffBranchOperator(
        task_id="branch", review_task_id="review",
        branches={"approved": "publish", "rejected": "notify_author"},
    )
    review >> branch >> [EmptyOperator(task_id="publish"), EmptyOperator(task_id="notify_author")]
"""


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    # Airflow's side is what is under test; one database suffices.
    return make_settings(sqlite_url)


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for Airflow: its own home and SQLite database, migrated, and the DAGs."""
    home = tmp_path_factory.mktemp("airflow-home")
    return airflow_env.prepare_home(
        home, {EXAMPLE.name: EXAMPLE, "review_with_timeout.py": TIMEOUT_DAG}
    )


@pytest.fixture
def server(app: Any, ctx: Context, keys: Keys) -> Iterator[str]:
    pool = WorkerPool(ctx, concurrency=1)
    pool.start()
    with serve(app) as url:
        with Client(url, keys.admin) as admin:
            admin.apply_workflow("docs", FAKE_WORKFLOW)
            admin.apply_workflow("slow", SLOW_WORKFLOW)
        yield url
    pool.stop()


class Reviewer(threading.Thread):
    """Decides the first task of the `docs` queue through the REST API, once deferred."""

    def __init__(self, url: str, api_key: str, deferred: Path) -> None:
        super().__init__(daemon=True)
        self.url, self.api_key, self.deferred = url, api_key, deferred
        self.decided_item: int | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        with Client(self.url, self.api_key) as reviewer:
            while not self.stop.is_set():
                task = reviewer.claim("docs")
                if task is None:
                    self.stop.wait(0.1)
                    continue
                while not (self.deferred / str(task.item_id)).exists():
                    if self.stop.wait(0.1):
                        return
                reviewer.decide(task.id, "rejected", comment="needs a signature")
                self.decided_item = task.item_id
                return


def test_dag_runs_pass_auto_items_wait_for_a_reviewer_and_take_the_default_on_timeout(
    airflow_home: dict[str, str], server: str, keys: Keys, tmp_path: Path
) -> None:
    reviewer = Reviewer(server, keys.reviewer, tmp_path)
    reviewer.start()
    runs = [
        # Confident invoice: the workflow decides it automatically, no deferral.
        {
            "dag": "hitl_document_review",
            "review_task": "ai_process",
            "conf": {"document": {"text": "Invoice 7", "label": "invoice", "confidence": 0.99}},
        },
        # Contracts are always reviewed: the task defers until the reviewer decides.
        {
            "dag": "hitl_document_review",
            "review_task": "ai_process",
            "conf": {"document": {"text": "Contract", "label": "contract", "confidence": 0.99}},
        },
        # Nobody reviews `slow`: execution_timeout passes and the default applies.
        {
            "dag": "review_with_timeout",
            "review_task": "review",
            "conf": {"document": {"text": "Contract", "label": "contract", "confidence": 0.99}},
        },
    ]
    started = time.monotonic()
    try:
        auto, human, timed_out = airflow_env.run_dags(
            airflow_home, server, keys.admin, runs, tmp_path
        )
    finally:
        reviewer.stop.set()
        reviewer.join(10)
    print(f"three DAG runs took {time.monotonic() - started:.1f}s")

    assert auto["state"] == "success", auto
    assert auto["review"]["decision"]["decided_by"] == "ai"
    assert auto["review"]["outcome"] == "approved" and not auto["review"]["timed_out"]
    assert auto["tasks"]["publish"] == "success" and auto["tasks"]["notify_author"] == "skipped"
    assert auto["deferred_items"] == []

    assert human["state"] == "success", human
    assert reviewer.decided_item == human["review"]["id"]
    assert human["deferred_items"] == [human["review"]["id"]]
    assert human["review"]["decision"]["comment"] == "needs a signature"
    assert human["review"]["outcome"] == "rejected"
    assert human["tasks"]["notify_author"] == "success" and human["tasks"]["publish"] == "skipped"
    assert human["tasks"]["record"] == "success"

    assert timed_out["state"] == "success", timed_out
    assert timed_out["deferred_items"] == [timed_out["review"]["id"]]
    assert timed_out["review"]["timed_out"] and timed_out["review"]["outcome"] == "rejected"
    assert timed_out["tasks"]["notify_author"] == "success"
    assert timed_out["tasks"]["publish"] == "skipped"
    with Client(server, keys.admin) as admin:
        # The XCom is the item as the API returns it, plus `outcome` and `timed_out`.
        item = admin.get(human["review"]["id"]).model_dump(mode="json")
        assert {k: v for k, v in human["review"].items() if k in item} == item
        assert admin.get(timed_out["review"]["id"]).state == "cancelled"


DOC = CHECKOUT / "docs" / "integrations" / "airflow.md"
BUILD_DAG = """
import sys
namespace = {}
exec(compile(sys.stdin.read(), "airflow.md", "exec"), namespace)
print(sorted(namespace["dag"].task_ids))
"""


def test_the_airflow_docs_python_examples_build_dags_in_real_airflow(
    airflow_home: dict[str, str],
) -> None:
    blocks = signoff_stack.python_blocks(DOC)
    assert blocks
    for code in blocks:
        built = subprocess.run(
            [airflow_home["PYTHON"], "-c", BUILD_DAG],
            input=code,
            env=airflow_home,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert built.returncode == 0, built.stderr[-3000:]
        assert "'review'" in built.stdout and "'branch'" in built.stdout
