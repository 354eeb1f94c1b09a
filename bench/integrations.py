"""Per-item overhead of the Airflow, Prefect and Temporal integrations on the auto path.

`python -m bench.integrations [ITEMS]` starts `signoff serve` on a fresh SQLite database
(the `docs` workflow with the `fake` provider: a confident item is decided by the AI
at once) and, in each orchestrator's own virtualenv (the cached ones the acceptance
tests build, tests/framework_venv.py), times one pipeline step per item, one item
after the other:

- the orchestrator's step that does nothing (an Airflow `@task`, a Prefect task, a
  Temporal activity called from a workflow);
- the same pipeline whose step is the signoff review (submit → auto decision → the
  step returns the decided item);
- Airflow only: its own `ApprovalOperator` (HITL). It has no auto route, so the
  nearest thing to an item nobody needs to see is `defaults` after `response_timeout`
  (1 s here): its cost per item is the timeout plus its own machinery.

and, as the floor, the same submit → decision through `signoff.client` with no
orchestrator. It rewrites the "Orchestrator integrations" section of
docs/benchmarks.md with the medians and the machine's load average.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests import signoff_stack, webhook_server
from tests.acceptance import airflow_env, orchestrators

from bench import audit
from signoff import client as signoff_client

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Orchestrator integrations"
RESULT = "RESULT "
AUTO = {"label": "invoice", "confidence": 0.99}

AIRFLOW_DAGS = {
    "bench_noop.py": """
from airflow.sdk import DAG, task

with DAG("bench_noop", schedule=None, params={"document": {}}) as dag:
    @task
    def step() -> None:
        return None

    step()
""",
    "bench_review.py": """
from airflow.sdk import DAG

from signoff.integrations.airflow import SignoffReviewOperator

with DAG("bench_review", schedule=None, render_template_as_native_obj=True,
         params={"document": {}}) as dag:
    SignoffReviewOperator(task_id="review", workflow="docs", content="{{ params.document }}")
""",
    "bench_hitl.py": """
from datetime import timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG

with DAG("bench_hitl", schedule=None, params={"document": {}}) as dag:
    ApprovalOperator(task_id="approve", subject="Publish this document?",
                     defaults="Approve", response_timeout=timedelta(seconds=1))
""",
}

AIRFLOW_RUNS = """
import importlib.util, json, sys, time, traceback
from pathlib import Path

folder, n, auto = Path(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])

def load(name):
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag

out, whole = {}, {}
for name in ("bench_noop", "bench_review", "bench_hitl"):
    try:
        dag = load(name)
        times = []
        for i in range(n + 1):  # the first run warms up
            started = time.perf_counter()
            run = dag.test(run_conf={"document": {"text": f"{name} {i}", **auto}})
            elapsed = time.perf_counter() - started
            assert str(run.state) == "success", f"{name}: {run.state}"
            if i:
                # The task's own run time (what the step costs), and the whole dag.test().
                (task,) = run.get_task_instances()
                times.append(task.duration)
                whole.setdefault(name, []).append(elapsed)
        out[name] = times
    except Exception:
        out[name] = {"error": traceback.format_exc()[-1500:]}
out["dag_test"] = whole
print("RESULT " + json.dumps(out), flush=True)
"""

PREFECT_RUNS = """
import asyncio, json, sys, time
from prefect import flow, task
from signoff.integrations.prefect import request_review

n, auto = int(sys.argv[1]), json.loads(sys.argv[2])

@task
async def step(content: dict) -> dict:
    return content

@flow
async def bench() -> dict:
    out = {"noop": [], "review": []}
    await step({"text": "warm-up"})
    await request_review("docs", {"text": "warm-up", **auto})
    for i in range(n):
        started = time.perf_counter()
        await step({"text": f"noop {i}"})
        out["noop"].append(time.perf_counter() - started)
    for i in range(n):
        started = time.perf_counter()
        item = await request_review("docs", {"text": f"prefect {i}", **auto})
        out["review"].append(time.perf_counter() - started)
        assert item["decision"]["decided_by"] == "ai", item
    return out

if __name__ == "__main__":
    print("RESULT " + json.dumps(asyncio.run(bench())), flush=True)
"""

TEMPORAL_RUNS = """
import asyncio, json, os, sys, time
from datetime import timedelta
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from signoff.integrations.temporal import workflow as signoff
    from signoff.integrations.temporal.activities import SignoffActivities


@activity.defn
async def step(content: dict) -> dict:
    return content


@workflow.defn
class Noop:
    @workflow.run
    async def run(self, content: dict) -> dict:
        return await workflow.execute_activity(
            step, content, start_to_close_timeout=timedelta(minutes=1))


@workflow.defn
class Review:
    @workflow.run
    async def run(self, content: dict) -> str:
        item = await signoff.request_review("docs", content)
        return item["decision"]["decided_by"]


async def main():
    n, auto = int(sys.argv[1]), json.loads(sys.argv[2])
    client = await Client.connect(os.environ["TEMPORAL_ADDRESS"])
    activities = SignoffActivities(os.environ["REVIEW_API_URL"], os.environ["REVIEW_API_KEY"])
    out = {"noop": [], "review": []}
    async with Worker(client, task_queue="bench", workflows=[Noop, Review],
                      activities=[step, *activities.all()]):
        for kind, workflow_type in (("noop", Noop), ("review", Review)):
            for i in range(n + 1):  # the first run warms up
                started = time.perf_counter()
                result = await client.execute_workflow(
                    workflow_type.run, {"text": f"temporal {kind} {i}", **auto},
                    id=f"bench-{kind}-{i}", task_queue="bench")
                if i:
                    out[kind].append(time.perf_counter() - started)
                assert kind == "noop" or result == "ai", result
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
    os._exit(0)  # skip the SDK runtime's exit-time teardown, which can crash after the work
"""


def _result(stack: signoff_stack.Stack, name: str, argv: list[str], env: dict[str, str]) -> Any:
    """Run one orchestrator's timing script to its end; what it printed after RESULT."""
    process = stack.start(name, argv, env)
    stack.wait_until(
        lambda: process.poll() is not None, f"{name} done", patience=1800, may_exit=(name,)
    )
    text = stack.logs[name].read_text(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.startswith(RESULT)]
    del stack.processes[name]  # ended as it should: no longer a process to watch
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"{name} exited {process.returncode}:\n{text[-3000:]}")
    return json.loads(lines[-1][len(RESULT) :])


def _client_floor(url: str, api_key: str, n: int) -> list[float]:
    times = []
    with signoff_client.Client(url, api_key) as client:
        for i in range(n + 1):
            started = time.perf_counter()
            item = client.submit("docs", {"text": f"client {i}", **AUTO})
            decided = client.wait(item.id, timeout=60)
            if i:
                times.append(time.perf_counter() - started)
            assert decided.decision is not None and decided.decision.decided_by == "ai"
    return times


def measure(n: int) -> dict[str, Any]:
    """Every figure: {"client": [s], "airflow": {...}, "prefect": {...}, "temporal": {...}}."""
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="signoff-bench-") as tmp,
        webhook_server.serving(lambda body, headers: 204) as hook,
    ):
        workdir = Path(tmp)
        stack = signoff_stack.Stack(f"sqlite:///{workdir}/bench.db", workdir)
        try:
            url = stack.start_signoff(hook)
            client_env = {"REVIEW_API_URL": url, "REVIEW_API_KEY": stack.service_key}
            auto = json.dumps(AUTO)
            results["client"] = _client_floor(url, stack.service_key, n)
            print(f"client: {statistics.median(results['client']):.3f}s", flush=True)

            home = airflow_env.prepare_home(workdir / "airflow", dict(AIRFLOW_DAGS))
            script = workdir / "airflow_runs.py"
            script.write_text(AIRFLOW_RUNS)
            results["airflow"] = _result(
                stack,
                "airflow",
                [home["PYTHON"], str(script), home["AIRFLOW__CORE__DAGS_FOLDER"], str(n), auto],
                airflow_env.run_env(home, url, stack.service_key, workdir),
            )
            airflow_log = stack.logs["airflow"].read_text(errors="replace")
            results["airflow"]["hitl_unanswered"] = "Unhandled request" in airflow_log and (
                "GetHITLDetail" in airflow_log
            )
            print(f"airflow: {_summary(results['airflow'])}", flush=True)

            prefect = orchestrators.prefect_venv()
            prefect_env = orchestrators.start_prefect(stack, prefect) | client_env
            script = workdir / "prefect_runs.py"
            script.write_text(PREFECT_RUNS)
            results["prefect"] = _result(
                stack, "prefect", [str(prefect.python), str(script), str(n), auto], prefect_env
            )
            print(f"prefect: {_summary(results['prefect'])}", flush=True)

            temporal = orchestrators.temporal_venv()
            address = orchestrators.start_temporal(stack, temporal)
            script = workdir / "temporal_runs.py"
            script.write_text(TEMPORAL_RUNS)
            results["temporal"] = _result(
                stack,
                "temporal",
                [str(temporal.python), str(script), str(n), auto],
                temporal.env(TEMPORAL_ADDRESS=address, **client_env),
            )
            print(f"temporal: {_summary(results['temporal'])}", flush=True)
        finally:
            stack.close()
    return results


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    return {k: _median(v) for k, v in result.items()}


def _median(times: Any) -> float | None:
    return statistics.median(times) if isinstance(times, list) and times else None


def _ms(seconds: float | None) -> str:
    return "did not run" if seconds is None else f"{seconds * 1000:,.0f}"


def render(r: dict[str, Any], n: int, load: float, at: datetime) -> list[str]:
    floor = _median(r["client"])
    rows = []
    pairs = [
        (
            "Airflow 3.1.8, one task per `dag.test()` run (the task's duration)",
            r["airflow"],
            "bench_noop",
            "bench_review",
        ),
        ("Prefect 3.9.1, a task per item in one flow run", r["prefect"], "noop", "review"),
        ("Temporal 1.35 (dev server), a workflow per item", r["temporal"], "noop", "review"),
    ]
    for label, result, noop_key, review_key in pairs:
        noop, review = _median(result.get(noop_key)), _median(result.get(review_key))
        overhead = None if noop is None or review is None else review - noop
        rows.append(f"| {label} | {_ms(noop)} | {_ms(review)} | {_ms(overhead)} |")
    hitl = r["airflow"].get("bench_hitl")
    hitl_noop = _median(r["airflow"].get("bench_noop"))
    hitl_median = _median(hitl)
    hitl_row = (
        f"| Airflow `ApprovalOperator`, `defaults` after a 1 s `response_timeout` "
        f"| {_ms(hitl_noop)} | {_ms(hitl_median)} | "
        f"{_ms(None if hitl_median is None or hitl_noop is None else hitl_median - hitl_noop)} |"
    )
    lines = [
        HEADING,
        "",
        f"Measured by `python -m bench.integrations {n}` on {at:%Y-%m-%d %H:%M} UTC; "
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()}, 1-minute load average {load:.1f} at the start (the machine is shared).",
        f"Medians of {n} items, one after the other, after one warm-up item; `signoff serve` on",
        "SQLite with the `fake` provider, so an item is decided automatically as soon as a",
        "worker claims it (poll interval 0.1 s). The overhead is the review step's time less",
        "the same orchestrator's step that does nothing.",
        "",
        "| pipeline | no-op step, ms | signoff review step (auto), ms | overhead per item, ms |",
        "| --- | --- | --- | --- |",
        *rows,
        hitl_row,
        f"| `signoff.client` submit → wait, no orchestrator (the floor) | | {_ms(floor)} | |",
        "",
        "Where the overhead goes: the submit, the worker's claim and AI step (the floor",
        "above), then each integration's own wait: Airflow's operator long-polls in 0.5 s",
        "steps until the item is routed, Temporal's `submit_for_review` polls with a",
        "backoff from 50 ms, Prefect's task long-polls until decided. A person-routed item costs the same",
        "submit, then waits without a worker (Airflow defers, Temporal waits on a signal).",
        "Airflow's `ApprovalOperator` cannot decide an item on its own: every item waits",
        "for a person or for its timeout, so on items signoff would decide automatically it",
        "costs at least the timeout.",
    ]
    whole = r["airflow"].get("dag_test", {})
    if whole:
        figures = ", ".join(f"`{k}` {_ms(_median(v))} ms" for k, v in whole.items())
        lines += [
            "",
            f"A whole `dag.test()` run (Airflow's own set-up per run included): {figures}.",
        ]
    if isinstance(hitl, dict):
        reason = hitl["error"].strip().splitlines()[-1]
        lines += ["", f"The `ApprovalOperator` run did not succeed under `dag.test()`: `{reason}`."]
        if r["airflow"].get("hitl_unanswered"):
            lines += [
                "Airflow's log says why: its in-process test supervisor does not answer the HITL",
                "trigger's request for the task's HITL details (`Unhandled request",
                "GetHITLDetailResponse`). Timing it needs a scheduler, a triggerer and the API",
                "server, which this benchmark does not start.",
            ]
    return lines


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    load = os.getloadavg()[0]
    results = measure(n)
    print(RESULT + json.dumps({"n": n, "load": load, "results": results}), flush=True)
    write_section(results, n, load, datetime.now(UTC))


def write_section(results: dict[str, Any], n: int, load: float, at: datetime) -> None:
    audit.write_section(ROOT / "docs" / "benchmarks.md", render(results, n, load, at))
    print("written docs/benchmarks.md")


if __name__ == "__main__":
    main()
