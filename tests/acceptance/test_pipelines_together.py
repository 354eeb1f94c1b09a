"""Airflow, Prefect and Temporal pipelines share one signoff workflow and one review queue.

Real parts only: `signoff serve`; apache-airflow running the example DAG with
`dag.test()` (the review task defers, the triggerer long-polls); a Prefect server and a
flow whose `request_review` task waits; a Temporal dev server, a worker whose workflow
waits for the decision signal, and the bridge receiving signoff's signed webhook. Each
pipeline submits one item to the same `docs` workflow; one reviewer takes the three
tasks from the one queue through the REST API and decides each differently; each
pipeline must continue with the decision made for its own item.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import signoff_stack
from tests.acceptance import airflow_env, orchestrators
from tests.conftest import CHECKOUT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

EXAMPLE_DAG = CHECKOUT / "examples" / "airflow" / "hitl_document_review.py"
RESULT = "RESULT "
#: What the reviewer decides for each pipeline's item, found by the item's text.
DECISIONS = {
    "from airflow": ("rejected", "airflow: the totals do not add up"),
    "from prefect": ("approved", "prefect: fine as it is"),
    "from temporal": ("rejected", "temporal: wrong customer"),
}
#: Low confidence: the `docs` workflow's routing sends each of them to a person.
CONTENT = {"label": "other", "confidence": 0.4}

PREFECT_FLOW = """
import asyncio, json, sys
from prefect import flow
from signoff.integrations.prefect import request_review

@flow
async def review_document(content: dict) -> dict:
    item = await request_review("docs", content)
    return {"item_id": item["id"], **item["decision"]}

if __name__ == "__main__":
    result = asyncio.run(review_document(json.loads(sys.argv[1])))
    print("RESULT " + json.dumps(result), flush=True)
"""

TEMPORAL_WORKER = """
import asyncio, json, os, sys
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from signoff.integrations.temporal import workflow as signoff
    from signoff.integrations.temporal.activities import SignoffActivities


@workflow.defn
class ReviewDocument:
    @workflow.run
    async def run(self, content: dict) -> dict:
        item = await signoff.request_review("docs", content)
        return {"item_id": item["id"], **item["decision"]}


async def main():
    client = await Client.connect(os.environ["TEMPORAL_ADDRESS"])
    activities = SignoffActivities(os.environ["REVIEW_API_URL"], os.environ["REVIEW_API_KEY"])
    async with Worker(client, task_queue="together", workflows=[ReviewDocument],
                      activities=activities.all()):
        result = await client.execute_workflow(
            ReviewDocument.run, json.loads(sys.argv[1]), id="together-temporal",
            task_queue="together")
    print("RESULT " + json.dumps(result), flush=True)

# The workflow sandbox imports this file again: only the script itself runs main().
if __name__ == "__main__":
    asyncio.run(main())
    os._exit(0)  # skip the SDK runtime's exit-time teardown, which can crash after the work
"""


def _result(stack: signoff_stack.Stack, name: str) -> dict[str, Any] | None:
    text = stack.logs[name].read_text(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.startswith(RESULT)]
    return json.loads(lines[-1][len(RESULT) :]) if lines else None


def _finished(stack: signoff_stack.Stack, name: str) -> dict[str, Any] | None:
    """The pipeline's result once its process has ended well; fails when it ended badly."""
    process = stack.processes[name]
    code = process.poll()
    if code is None:
        return None
    result = _result(stack, name)
    if code != 0 or result is None:
        pytest.fail(f"{name} exited {code}\n{stack.log_tails()}")
    return result


def test_airflow_prefect_and_temporal_pipelines_are_decided_from_one_queue(
    stack: signoff_stack.Stack, tmp_path: Path
) -> None:
    prefect, temporal = orchestrators.prefect_venv(), orchestrators.temporal_venv()
    airflow_home = airflow_env.prepare_home(tmp_path / "airflow", {EXAMPLE_DAG.name: EXAMPLE_DAG})
    prefect_env = orchestrators.start_prefect(stack, prefect)
    address = orchestrators.start_temporal(stack, temporal)
    bridge_port = signoff_stack.free_port()
    # One workflow for all three; its decision webhook goes to the Temporal bridge,
    # which answers 204 for the items that are not Temporal's.
    url = stack.start_signoff(f"http://127.0.0.1:{bridge_port}/")
    client_env = {"REVIEW_API_URL": url, "REVIEW_API_KEY": stack.service_key}
    temporal_env = temporal.env(TEMPORAL_ADDRESS=address, **client_env)
    orchestrators.start_receiver(
        stack,
        temporal,
        "bridge",
        "signoff.integrations.temporal.bridge:create_app",
        bridge_port,
        temporal_env,
    )

    deferred = tmp_path / "deferred"
    deferred.mkdir()
    dag_run = {
        "dag": "hitl_document_review",
        "review_task": "ai_process",
        "conf": {"document": {"text": "from airflow", **CONTENT}},
    }
    stack.start(
        "airflow",
        airflow_env.runner_argv(airflow_home, [dag_run]),
        airflow_env.run_env(airflow_home, url, stack.service_key, deferred),
    )
    flow = stack.workdir / "prefect_flow.py"
    flow.write_text(PREFECT_FLOW)
    prefect_content = json.dumps({"text": "from prefect", **CONTENT})
    stack.start(
        "prefect", [str(prefect.python), str(flow), prefect_content], prefect_env | client_env
    )
    worker = stack.workdir / "temporal_worker.py"
    worker.write_text(TEMPORAL_WORKER)
    temporal_content = json.dumps({"text": "from temporal", **CONTENT})
    stack.start(
        "temporal-worker", [str(temporal.python), str(worker), temporal_content], temporal_env
    )
    pipelines = ("airflow", "prefect", "temporal-worker")

    pipeline = stack.pipeline()
    reviewer_email, reviewer = next(iter(stack.reviewers().items()))
    try:
        # All three wait on a person: each item is in review, the Airflow task deferred.
        def all_waiting() -> dict[str, dict[str, Any]] | None:
            for name in pipelines:
                assert _finished(stack, name) is None, f"{name} finished before any decision"
            items = signoff_stack.items_by_text(pipeline)
            in_review = all(items.get(t, {}).get("state") == "in_review" for t in DECISIONS)
            if not in_review:
                return None
            if not (deferred / str(items["from airflow"]["id"])).exists():
                return None
            return items

        waiting = stack.wait_until(all_waiting, "three items in review", may_exit=pipelines)
        assert waiting is not None
        items = waiting
        assert {items[t]["workflow"] for t in DECISIONS} == {"docs"}

        # One reviewer, one queue: claim whatever comes next and decide it by its content.
        decided: dict[int, tuple[str, str]] = {}
        while len(decided) < len(DECISIONS):
            claimed = reviewer.post("/api/v1/reviews/claim")
            assert claimed.status_code == 200, f"the queue ran dry: {claimed.status_code}"
            task = claimed.json()
            item = pipeline.get(f"/api/v1/items/{task['item_id']}").json()
            outcome, comment = DECISIONS[item["content"]["text"]]
            response = reviewer.post(
                f"/api/v1/tasks/{task['id']}/decision",
                json={"outcome": outcome, "comment": comment},
            )
            assert response.status_code == 200, response.text
            decided[item["id"]] = (outcome, comment)
        assert reviewer.post("/api/v1/reviews/claim").status_code == 204

        results: dict[str, dict[str, Any]] = {}
        for name in pipelines:
            result = stack.wait_until(
                lambda name=name: _finished(stack, name),  # type: ignore[misc]
                f"{name} done",
                may_exit=pipelines,
            )
            assert result is not None
            results[name] = result
    finally:
        pipeline.close()
        reviewer.close()

    airflow_run = results["airflow"]
    assert airflow_run["state"] == "success", airflow_run
    airflow_item = airflow_run["review"]
    assert airflow_item["id"] == items["from airflow"]["id"]
    assert airflow_run["deferred_items"] == [airflow_item["id"]]
    assert (airflow_item["outcome"], airflow_item["decision"]["comment"]) == DECISIONS[
        "from airflow"
    ]
    # The DAG took the branch of its own decision.
    assert airflow_run["tasks"]["notify_author"] == "success"
    assert airflow_run["tasks"]["publish"] == "skipped"

    by_source = {"prefect": "from prefect", "temporal-worker": "from temporal"}
    for name, text in by_source.items():
        result = results[name]
        assert result["item_id"] == items[text]["id"], result
        assert (result["outcome"], result["comment"]) == DECISIONS[text], result
        assert result["decided_by"] == f"user:{reviewer_email}", result
    assert airflow_item["decision"]["decided_by"] == f"user:{reviewer_email}"
    assert decided == {items[t]["id"]: DECISIONS[t] for t in DECISIONS}
    # One item per pipeline, however often their steps ran.
    assert sorted(signoff_stack.items_by_text(stack.pipeline())) == sorted(DECISIONS)
