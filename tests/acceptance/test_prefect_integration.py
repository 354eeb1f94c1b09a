"""Prefect 3 flows with a signoff review step, against a real Prefect server and `signoff serve`.

Real parts only: Prefect (pinned) in its own virtualenv, `prefect server start` on
127.0.0.1, the flow file from docs/integrations/prefect.md served as two deployments,
`resume_app` under uvicorn receiving signoff's signed webhook, and `signoff serve`.
The test plays the reviewer through the REST API while the flows wait.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import framework_venv, signoff_stack
from tests.acceptance import orchestrators

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs/integrations/prefect.md"

DRIVER = """
import asyncio, json, sys
from prefect.deployments import run_deployment
from prefect.flow_runs import wait_for_flow_run

async def main():
    runs = []
    for name, parameters in json.loads(sys.argv[1]):
        run = await run_deployment(name, parameters=parameters, timeout=0)
        runs.append(run)
        print(json.dumps({"started": name, "id": str(run.id)}), flush=True)
    for run in runs:
        final = await wait_for_flow_run(run.id, timeout=1200, log_states=False)
        result = await final.state.aresult(raise_on_failure=False)
        print(json.dumps({"finished": str(run.id), "state": final.state.type.value,
                          "result": result if isinstance(result, str) else repr(result)}), flush=True)

asyncio.run(main())
"""


def test_every_python_example_of_the_page_compiles() -> None:
    for n, block in enumerate(signoff_stack.python_blocks(PAGE)):
        compile(block, f"{PAGE.name} block {n + 1}", "exec")


@pytest.fixture(scope="module")
def prefect_venv() -> framework_venv.FrameworkVenv:
    return orchestrators.prefect_venv()


def test_prefect_flows_wait_for_a_reviewer_and_continue_with_the_decision(
    prefect_venv: framework_venv.FrameworkVenv, stack: signoff_stack.Stack
) -> None:
    env = orchestrators.start_prefect(stack, prefect_venv)
    resume_port = signoff_stack.free_port()
    url = stack.start_signoff(f"http://127.0.0.1:{resume_port}/")
    env.update(REVIEW_API_URL=url, REVIEW_API_KEY=stack.service_key)
    flows = stack.workdir / "review_flows.py"
    flows.write_text(signoff_stack.doc_example(PAGE, "# review_flows.py"))
    resume_url = orchestrators.start_receiver(
        stack,
        prefect_venv,
        "resume-app",
        "signoff.integrations.prefect.resume_app:create_app",
        resume_port,
        env,
    )
    stack.start("runner", [str(prefect_venv.python), str(flows)], env)
    signoff_stack.check_receiver_refuses_forgeries(resume_url, stack.webhook_secret)
    no_such_run = f"prefect:{uuid.uuid4()}"
    assert signoff_stack.post_decision(resume_url, stack.webhook_secret, no_such_run) == 410

    def deployments_ready() -> bool:
        response = httpx.post(f"{env['PREFECT_API_URL']}/deployments/filter", json={}, timeout=10)
        return response.status_code == 200 and len(response.json()) == 2

    stack.wait_until(deployments_ready, "both deployments registered by the runner")

    runs = [
        ["review-waiting/wait", {"text": "wait-human", "label": "other", "confidence": 0.4}],
        ["review-waiting/wait", {"text": "wait-auto", "label": "invoice", "confidence": 0.97}],
        [
            "review-suspending/suspend",
            {"text": "suspend-human", "label": "other", "confidence": 0.3},
        ],
        [
            "review-suspending/suspend",
            {"text": "suspend-auto", "label": "invoice", "confidence": 0.96},
        ],
    ]
    driver_path = stack.workdir / "driver.py"
    driver_path.write_text(DRIVER)
    out_path = stack.workdir / "driver.out"
    with out_path.open("wb") as out:
        driver = subprocess.Popen(
            [str(prefect_venv.python), str(driver_path), json.dumps(runs)],
            env=env,
            cwd=stack.workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stack.processes["driver"] = driver
    stack.logs["driver"] = out_path

    def lines() -> list[dict[str, Any]]:
        text = out_path.read_text(errors="replace")
        return [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]

    started = stack.wait_until(
        lambda: [ln for ln in lines() if "started" in ln] if len(lines()) >= 4 else None,
        "four flow runs created",
        may_exit=("driver",),
    )
    run_ids = {runs[n][1]["text"]: started[n]["id"] for n in range(4)}
    pipeline, reviewers = stack.pipeline(), stack.reviewers()
    prefect_api = httpx.Client(base_url=env["PREFECT_API_URL"], timeout=30)
    try:
        # Both human items reach the queue while their flows wait; the suspending run
        # is suspended, with no process of its own, before anyone decides.
        def both_in_review() -> dict[str, dict[str, Any]] | None:
            items = signoff_stack.items_by_text(pipeline)
            humans = ("wait-human", "suspend-human")
            if all(items.get(t, {}).get("state") == "in_review" for t in humans):
                return items
            return None

        items = stack.wait_until(both_in_review, "both human items in review", may_exit=("driver",))

        def suspended() -> bool:
            run = prefect_api.get(f"/flow_runs/{run_ids['suspend-human']}").json()
            return bool(run["state"]["type"] == "PAUSED" and run["state"]["name"] == "Suspended")

        stack.wait_until(suspended, "the suspending flow run suspended", may_exit=("driver",))
        waiting = prefect_api.get(f"/flow_runs/{run_ids['wait-human']}").json()
        assert waiting["state"]["type"] == "RUNNING", waiting["state"]
        assert driver.poll() is None, "the driver finished before anyone decided"

        tasks = signoff_stack.claim_tasks(
            reviewers, {items["wait-human"]["id"], items["suspend-human"]["id"]}
        )
        wait_by = tasks[items["wait-human"]["id"]].decide("approved")
        suspend_by = tasks[items["suspend-human"]["id"]].decide("rejected")

        def finished() -> list[dict[str, Any]] | None:
            done = [ln for ln in lines() if "finished" in ln]
            if len(done) == 4:
                return done
            assert driver.poll() in (None, 0), f"the driver failed\n{stack.log_tails()}"
            return None

        results = {
            ln["finished"]: ln
            for ln in stack.wait_until(
                finished, "all four flow runs finished", may_exit=("driver",)
            )
        }
        assert driver.wait(timeout=60) == 0
        by_text = {text: results[run_id] for text, run_id in run_ids.items()}
        assert all(r["state"] == "COMPLETED" for r in by_text.values()), by_text
        assert by_text["wait-human"]["result"] == f"approved by {wait_by} (human)"
        assert by_text["suspend-human"]["result"] == f"rejected by {suspend_by} (human)"
        assert by_text["wait-auto"]["result"] == "approved by ai (auto)"
        assert by_text["suspend-auto"]["result"] == "approved by ai (auto)"

        # One item per review: the resumed flow found its item again.
        final = signoff_stack.items_by_text(pipeline)
        assert len(final) == 4, sorted(final)
        assert final["suspend-human"]["external_id"] == f"prefect:{run_ids['suspend-human']}"
        # The suspending run was resumed by the webhook: it went through a second start.
        history = prefect_api.get(
            "/flow_run_states/", params={"flow_run_id": run_ids["suspend-human"]}
        )
        assert history.status_code == 200, history.text
        names = [s["name"] for s in history.json()]
        assert "Suspended" in names and names.count("Running") >= 2, names
    finally:
        pipeline.close()
        for client in reviewers.values():
            client.close()
        prefect_api.close()
