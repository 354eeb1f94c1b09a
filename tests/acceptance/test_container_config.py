"""The container image, the compose stack and the monitoring board, checked without a daemon.

No container runtime runs on this machine (a docker client, no daemon, no base image
to pull), so nothing here starts a container. What is checked instead: hadolint on the
Dockerfile; compose.yaml against the Compose Specification's JSON schema (the copy that
check-jsonschema ships) and against what the stack must do; the Grafana provisioning
and dashboard; and every metric the dashboard's PromQL asks for against the /metrics of
a live server that has decided items. test_container_build.py replays the image build.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from signoff.client import Client
from signoff.services.context import Context
from signoff.settings import Settings
from signoff.workers.runner import WorkerPool
from tests.acceptance import container_support
from tests.conftest import FAKE_WORKFLOW, Keys
from tests.live_server import serve

ROOT = container_support.ROOT
BIN = Path(sys.executable).parent
COMPOSE = ROOT / "compose.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "signoff.json"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
SIGNOFF_SERVICES = ("migrate", "server", "worker")


def _setting_names(model: type[Any] = Settings, prefix: str = "SIGNOFF_") -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            names |= _setting_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.add(f"{prefix}{name.upper()}")
    return names


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def _dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


# --- Dockerfile --------------------------------------------------------------------------


def test_the_dockerfile_is_hadolint_clean() -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", str(container_support.DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_flag_a_dockerfile_that_breaks_its_rules(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install gcc\nCMD signoff serve\n")
    result = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # the untagged base image


def test_the_final_image_runs_signoff_serve_as_a_non_root_user_and_checks_healthz() -> None:
    build, final = container_support.stages()
    assert build.name == "build"
    assert final.base == build.base and "slim" in final.base
    user = final.values("USER")[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0
    assert final.exec_form("CMD") == ["signoff", "serve"]
    assert final.exec_form("HEALTHCHECK") == ["python", "/opt/signoff/healthcheck.py"]
    healthcheck = (ROOT / "deploy" / "docker" / "healthcheck.py").read_text()
    assert "/healthz" in healthcheck
    env = final.env()
    assert env["SIGNOFF_HOST"] == "0.0.0.0"
    assert env["SIGNOFF_ENVIRONMENT"] == "production"
    assert env["SIGNOFF_DATA_DIR"] == final.values("VOLUME")[-1].strip('[]"')


def test_the_final_image_installs_nothing_and_copies_only_the_built_virtualenv() -> None:
    build, final = container_support.stages()
    # Build tools stay in the build stage: the final stage runs no package manager.
    for command in final.values("RUN"):
        assert not re.search(r"\b(apt-get|apt|pip|gcc|make)\b", command), command
    origins = {origin for origin, _, _ in final.copies()}
    assert origins <= {build.name, None}
    local = [sources for origin, sources, _ in final.copies() if origin is None]
    assert local == [["deploy/docker/healthcheck.py"]]


def test_the_image_is_configured_by_existing_signoff_settings_only() -> None:
    known = _setting_names()
    for stage in container_support.stages():
        unknown = {n for n in stage.env() if n.startswith("SIGNOFF_")} - known
        assert not unknown, f"the Dockerfile sets settings that do not exist: {unknown}"


def test_the_docker_build_context_holds_only_what_the_build_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "**", "the context starts empty and lets in what the build copies"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    for stage in container_support.stages():
        for origin, sources, _ in stage.copies():
            if origin is None:
                for source in sources:
                    assert (ROOT / source).exists(), source
                    assert any(source == a or source.startswith(f"{a}/") for a in allowed), (
                        f"{source} is copied but .dockerignore leaves it out of the context"
                    )


# --- compose.yaml ------------------------------------------------------------------------


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_compose_file_validates_against_the_compose_specification_schema() -> None:
    result = _check_compose(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_schema_check_refuses_a_malformed_stack(tmp_path: Path) -> None:
    spec = _compose()
    spec["services"]["worker"]["deploy"]["replicas"] = {"many": True}
    spec["services"]["server"]["depends_on"]["migrate"]["condition"] = "when_ready"
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump(spec))
    result = _check_compose(broken)
    assert result.returncode != 0
    assert "replicas" in result.stdout and "condition" in result.stdout, result.stdout


def test_compose_runs_postgresql_a_one_shot_upgrade_a_server_and_worker_replicas() -> None:
    services = _compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    migrate, server, worker = (services[name] for name in SIGNOFF_SERVICES)
    assert migrate["command"] == ["signoff", "db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    # The server leaves the AI step to the worker containers.
    assert server["command"] == ["signoff", "serve", "--no-workers"]
    assert worker["command"] == ["signoff", "worker"]
    assert re.fullmatch(r"\$\{WORKER_REPLICAS:-[2-9]\}", str(worker["deploy"]["replicas"]))
    for service in (server, worker):
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["healthcheck"] == {"disable": True}, "workers serve no /healthz"


def test_every_signoff_container_uses_postgresql_existing_settings_and_one_data_volume() -> None:
    services = _compose()["services"]
    known = _setting_names()
    for name in SIGNOFF_SERVICES:
        service = services[name]
        assert service["build"] == "." and service["image"] == services["server"]["image"]
        environment = service["environment"]
        assert environment["SIGNOFF_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in environment["SIGNOFF_DATABASE_URL"]
        unknown = {n for n in environment if n.startswith("SIGNOFF_")} - known
        assert not unknown, f"{name} sets settings that do not exist: {unknown}"
        # The generated secret key lives in /data: one volume, so one key for all of them.
        assert "signoff-data:/data" in service["volumes"]
        assert "SIGNOFF_SECRET_KEY" not in environment, "no secret in the compose file"


def test_prometheus_and_grafana_run_only_in_the_monitoring_profile() -> None:
    services = _compose()["services"]
    profiled = {name for name, service in services.items() if service.get("profiles")}
    assert profiled == {"prometheus", "grafana"}
    for name in profiled:
        assert services[name]["profiles"] == ["monitoring"]
        for mount in services[name]["volumes"]:
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is missing"
        # The monitoring ports answer on the host's loopback only.
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"])


def test_prometheus_scrapes_the_servers_metrics_endpoint() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert targets == ["server:8000"]
    assert "server" in _compose()["services"]


def test_grafana_is_provisioned_with_the_datasource_and_the_dashboard_it_uses() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "signoff.yml").read_text())
    (provider,) = providers["providers"]
    mounts = dict(m.split(":")[:2] for m in _compose()["services"]["grafana"]["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    used = {json.dumps(p["datasource"], sort_keys=True) for p in _dashboard()["panels"]}
    assert used == {json.dumps({"type": "prometheus", "uid": source["uid"]}, sort_keys=True)}


# --- the Grafana dashboard ---------------------------------------------------------------

GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "1d", "$__interval": "1m"}


def _promql(expr: str) -> Any:
    """Parse a panel's query as Prometheus would, once Grafana has filled its variables."""
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return promql_parser.parse(expr.replace("$workflow", ".*"))


def _selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, label names matched) of every series selector in `expr`."""
    found: list[tuple[str, set[str]]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            labels = {matcher.name for matcher in node.matchers.matchers}
            found.append((node.name, labels))

    promql_parser.walk(_promql(expr), visit)
    return found


def _queries(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_dashboard_is_well_formed_and_its_panels_do_not_overlap() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert len({p["title"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        assert panel["type"] in {"stat", "timeseries", "gauge", "table", "bargauge"}
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
        assert panel["targets"] and len({t["refId"] for t in panel["targets"]}) == len(
            panel["targets"]
        )
    (variable,) = dashboard["templating"]["list"]
    assert variable["name"] == "workflow"


def test_every_dashboard_query_parses_as_promql() -> None:
    for expr in _queries(_dashboard()):
        assert _selectors(expr), f"{expr} selects no series"


def test_a_query_naming_a_metric_that_does_not_exist_would_be_caught() -> None:
    assert _selectors('sum(rate(signoff_made_up_total{workflow=~"$workflow"}[5m]))') == [
        ("signoff_made_up_total", {"workflow"})
    ]
    with pytest.raises(ValueError):
        _promql("sum(rate(signoff_items[5m])")


def test_the_dashboard_covers_automation_review_time_error_bound_workload_and_sla() -> None:
    names = {name for expr in _queries(_dashboard()) for name, _ in _selectors(expr)}
    assert {
        "signoff_decisions_total",
        "signoff_queue_depth",
        "signoff_queue_oldest_age_seconds",
        "signoff_queue_overdue",
        "signoff_time_to_decision_seconds_bucket",
        "signoff_overrides_total",
        "signoff_auto_error_upper_bound",
        "signoff_auto_error_budget",
        "signoff_reviewer_assigned_tasks",
        "signoff_reviewer_decisions_total",
        "signoff_tasks_decided_late_total",
        "signoff_task_escalations_total",
    } <= names


QA_WORKFLOW = FAKE_WORKFLOW.replace("name: docs", "name: qa").replace(
    "routing: {", "routing: {qa_sample_rate: 1.0, "
)
BUDGET_WORKFLOW = FAKE_WORKFLOW.replace("name: docs", "name: budget").replace(
    "threshold: 0.85", "error_budget: 0.05"
)


@pytest.fixture
def decided_server(app: Any, ctx: Context, keys: Keys) -> Iterator[str]:
    """A live server with workers: items decided by the AI and by reviewers, one QA-sampled,
    one task held by a reviewer, and an error-budget workflow."""
    pool = WorkerPool(ctx, concurrency=1)
    pool.start()
    with serve(app) as url:
        with (
            Client(url, keys.admin) as admin,
            Client(url, keys.reviewer) as reviewer,
            Client(url, keys.reviewer2) as reviewer2,
        ):
            admin.apply_workflow("docs", FAKE_WORKFLOW)
            admin.apply_workflow("qa", QA_WORKFLOW)
            admin.apply_workflow("budget", BUDGET_WORKFLOW)
            auto = admin.submit("docs", {"label": "invoice", "confidence": 0.99})
            assert admin.wait(auto["id"], timeout=30)["decision"]["decided_by"] == "ai"
            human = admin.submit("docs", {"label": "contract", "confidence": 0.99})
            waiting = admin.submit("docs", {"label": "receipt", "confidence": 0.2})
            sampled = admin.submit("qa", {"label": "invoice", "confidence": 0.99})
            deadline = time.monotonic() + 30
            for item in (human, waiting, sampled):
                while admin.get(item["id"])["state"] != "in_review":
                    assert time.monotonic() < deadline, "the worker did not route the items"
                    threading.Event().wait(0.05)
            task = reviewer.claim("docs")
            assert task is not None and task["item_id"] in (human["id"], waiting["id"])
            reviewer.decide(task["id"], "approved")
            qa_task = reviewer.claim("qa")
            assert qa_task is not None and qa_task["item_id"] == sampled["id"]
            reviewer.decide(qa_task["id"], "approved")
            assert reviewer2.claim("docs") is not None  # held: a reviewer's workload
        yield url
    pool.stop()


def test_every_metric_the_dashboard_queries_is_exposed_by_a_live_server(
    decided_server: str,
) -> None:
    text = httpx.get(f"{decided_server}/metrics", timeout=10).text
    exposed: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            exposed.setdefault(sample.name, set()).update(sample.labels)
    dashboard = _dashboard()
    variable_query = dashboard["templating"]["list"][0]["query"]["query"]
    variable = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable_query)
    assert variable is not None
    assert variable.group(2) in exposed[variable.group(1)]
    for expr in _queries(dashboard):
        for name, labels in _selectors(expr):
            assert name in exposed, f"{expr}: /metrics has no {name}; it has {sorted(exposed)}"
            assert labels <= exposed[name], f"{expr}: {name} has labels {exposed[name]}"
