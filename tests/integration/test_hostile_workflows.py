"""Hostile workflow definitions through the REST API and the CLI: refused with 422 naming
the field, nothing stored, listing still quick to answer; YAML kept as it was sent."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.integration import test_cli
from tests.integration.test_ui_security import sign_in

COMMENTED = """# Incoming supplier documents.
name: {name}
labels: [invoice, receipt]   # the two kinds we pay
ai: {{provider: fake, retries: 1}}
routing: {{threshold: 0.9}}  # strict until the error budget is set
"""


def _bomb(levels: int = 9, fan_out: int = 9) -> str:
    lines = ["labels: [a]", "description: x", f"l0: &l0 [{', '.join(['lol'] * 9)}]"]
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fan_out)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("labels: [a]\nreview: {sla_hours: .inf}\n", "review.sla_hours"),
        ('{"labels": ["a"], "review": {"sla_hours": 1.0e999}}', "review.sla_hours"),
        ("labels: [a]\nrouting: {qa_sample_rate: .nan}\n", "routing.qa_sample_rate"),
        ("labels: [a]\ntraining: {retrain_every: 100000000000}\n", "training.retrain_every"),
        ("labels: [a]\nai: {retry_budget_seconds: 1.0e12}\n", "ai.retry_budget_seconds"),
        ("labels: [a]\nentities: [{type: x, patterns: ['(a)\\1']}]\n", "entities.0.patterns"),
        ("labels: [a]\nai: {options: " + "[" * 200 + "]" * 200 + "}\n", "(source)"),
        (_bomb(), "(source)"),
        (_bomb(levels=4, fan_out=8), "(root)"),
    ],
    ids=["inf", "json-overflow", "nan", "huge-count", "huge-budget", "re2", "deep", "bomb", "wide"],
)
def test_hostile_workflow_put_answers_422_naming_the_field_and_stores_nothing(
    client: TestClient, keys: Keys, text: str, field: str
) -> None:
    response = client.put("/api/v1/workflows/hostile", content=text, headers=keys.auth(keys.admin))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_workflow"
    assert body["field"] == field, body
    assert "Traceback" not in response.text
    assert client.get("/api/v1/workflows/hostile", headers=keys.auth(keys.admin)).status_code == 404
    listed = client.get("/api/v1/workflows", headers=keys.auth(keys.reviewer))
    assert listed.status_code == 200
    assert listed.json()["workflows"] == []


def test_workflow_source_over_the_size_limit_answers_422_naming_the_limit(
    client: TestClient, keys: Keys
) -> None:
    text = "labels: [a]\n" + "# padding\n" * 30_000
    response = client.put("/api/v1/workflows/padded", content=text, headers=keys.auth(keys.admin))
    assert response.status_code == 422
    assert "the limit is 262144" in response.json()["detail"]


def test_yaml_put_through_the_api_keeps_its_source_and_the_admin_page_shows_it(
    client: TestClient, keys: Keys
) -> None:
    sent = COMMENTED.format(name="supplier")
    response = client.put("/api/v1/workflows/supplier", content=sent, headers=keys.auth(keys.admin))
    assert response.status_code == 201, response.text
    versions = client.get(
        "/api/v1/workflows/supplier/versions", headers=keys.auth(keys.admin)
    ).json()
    assert versions["versions"][0]["source"] == sent
    sign_in(client, "admin@example.com", "admin-password-1")
    page = client.get("/ui/admin/workflows/supplier")
    assert page.status_code == 200
    assert sent in html.unescape(page.text)


def test_yaml_without_a_name_takes_the_url_name_and_is_stored_as_sent(
    client: TestClient, keys: Keys
) -> None:
    sent = "# no name here\nlabels: [a, b]\n"
    response = client.put("/api/v1/workflows/unnamed", content=sent, headers=keys.auth(keys.admin))
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["name"] == "unnamed"
    versions = client.get("/api/v1/workflows/unnamed/versions", headers=keys.auth(keys.admin))
    assert versions.json()["versions"][0]["source"] == sent


def test_yaml_applied_with_the_cli_keeps_its_source_and_the_admin_page_shows_it(
    db_url: str, tmp_path: Path, client: TestClient, keys: Keys
) -> None:
    # `client` serves the same database the CLI process writes to.
    sent = COMMENTED.format(name="cli-supplier")
    path = tmp_path / "supplier.yaml"
    path.write_text(sent)
    test_cli.assert_ok(test_cli.run(db_url, "workflows", "apply", str(path)))
    sign_in(client, "admin@example.com", "admin-password-1")
    page = client.get("/ui/admin/workflows/cli-supplier")
    assert page.status_code == 200
    assert sent in html.unescape(page.text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (COMMENTED.format(name="bomb") + _bomb().replace("labels: [a]\n", ""), "aliases"),
        ("name: inf\nlabels: [a]\nreview: {sla_hours: .inf}\n", "review.sla_hours"),
    ],
    ids=["bomb", "inf"],
)
def test_hostile_workflow_file_is_refused_by_the_cli_naming_the_problem(
    sqlite_url: str, tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    result = test_cli.run(sqlite_url, "workflows", "apply", str(path))
    assert result.returncode == 1, test_cli.output(result)
    test_cli.assert_refused(result, expected)
    listed = test_cli.run(sqlite_url, "workflows", "list")
    test_cli.assert_ok(listed)
    assert "bomb" not in listed.stdout and "inf" not in listed.stdout


def test_admin_editor_keeps_the_edited_source_and_refuses_a_bomb(
    client: TestClient, keys: Keys
) -> None:
    sent = COMMENTED.format(name="edited")
    assert (
        client.put(
            "/api/v1/workflows/edited", content=sent, headers=keys.auth(keys.admin)
        ).status_code
        == 201
    )
    token = sign_in(client, "admin@example.com", "admin-password-1")
    edited = sent.replace("threshold: 0.9", "threshold: 0.95") + "# tightened\n"
    saved = client.post("/ui/admin/workflows/edited", data={"source": edited, "csrf_token": token})
    assert saved.status_code == 200, saved.text
    assert edited in html.unescape(client.get("/ui/admin/workflows/edited").text)
    refused = client.post(
        "/ui/admin/workflows/edited", data={"source": _bomb(), "csrf_token": token}
    )
    assert refused.status_code == 422
    assert "aliases" in html.unescape(refused.text)
    versions = client.get("/api/v1/workflows/edited/versions", headers=keys.auth(keys.admin))
    assert sorted(v["source"] for v in versions.json()["versions"]) == sorted([sent, edited])


def test_a_stored_version_outside_todays_limits_is_named_and_hides_no_other_workflow(
    client: TestClient, keys: Keys, ctx
) -> None:
    import sqlalchemy as sa

    from signoff.storage import tables

    admin = keys.auth(keys.admin)
    for name in ("old", "fine"):
        response = client.put(
            f"/api/v1/workflows/{name}", content=COMMENTED.format(name=name), headers=admin
        )
        assert response.status_code == 201, response.text
    # A version stored before the bounds existed: an infinite SLA, written straight to SQL.
    with ctx.engine.begin() as connection:
        old_id = connection.execute(
            sa.select(tables.workflows.c.id).where(tables.workflows.c.name == "old")
        ).scalar_one()
        spec = dict(
            connection.execute(
                sa.select(tables.workflow_versions.c.spec).where(
                    tables.workflow_versions.c.workflow_id == old_id
                )
            ).scalar_one()
        )
        spec["review"] = {**spec["review"], "sla_hours": 10**12}
        connection.execute(
            sa.update(tables.workflow_versions)
            .where(tables.workflow_versions.c.workflow_id == old_id)
            .values(spec=spec)
        )

    listed = client.get("/api/v1/workflows", headers=admin)
    assert listed.status_code == 200, listed.text
    assert [w["name"] for w in listed.json()["workflows"]] == ["fine"]

    named = client.get("/api/v1/workflows/old", headers=admin)
    assert named.status_code == 422, named.text
    assert named.json()["error"] == "invalid_workflow"
    assert "apply a corrected definition" in named.json()["detail"]
    assert named.json()["field"] == "review.sla_hours"

    fixed = client.put("/api/v1/workflows/old", content=COMMENTED.format(name="old"), headers=admin)
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["version"] == 2
    assert client.get("/api/v1/workflows/old", headers=admin).status_code == 200
