"""`signoff orgs` and `--org`: tenants made and filled from the terminal."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from signoff.services.context import Context
from signoff.storage import tables as t
from tests.integration.test_cli import WORKFLOW, assert_ok, assert_refused, output, run


def test_orgs_add_then_users_keys_groups_and_workflows_go_into_the_named_org(
    db_url: str, ctx: Context, tmp_path: Path
) -> None:
    assert_ok(
        run(db_url, "orgs", "add", "acme", "--display-name", "Acme", "--items-per-day", "500")
    )
    assert_ok(run(db_url, "users", "add", "rev@acme.test", "--org", "acme"))
    made = run(db_url, "keys", "create", "acme-app", "--org", "acme")
    assert_ok(made)
    spec = tmp_path / "invoices.yaml"
    spec.write_text(WORKFLOW)
    assert_ok(run(db_url, "workflows", "apply", str(spec), "--org", "acme"))
    assert_ok(run(db_url, "groups", "add", "clerks", "--member", "rev@acme.test", "--org", "acme"))
    assert_ok(run(db_url, "orgs", "set", "acme", "--open-tasks", "40"))
    with ctx.sessions() as session:
        org = session.execute(sa.select(t.orgs).where(t.orgs.c.name == "acme")).one()
        owners = {
            "user": session.execute(sa.select(t.users.c.org_id)).scalar_one(),
            "key": session.execute(sa.select(t.api_keys.c.org_id)).scalar_one(),
            "workflow": session.execute(sa.select(t.workflows.c.org_id)).scalar_one(),
            "group": session.execute(sa.select(t.reviewer_groups.c.org_id)).scalar_one(),
        }
    assert owners == dict.fromkeys(owners, org.id)
    assert (org.display_name, org.items_per_day, org.open_tasks) == ("Acme", 500, 40)
    listed = output(run(db_url, "orgs", "list"))
    assert "acme" in listed and "500" in listed and "default" in listed
    assert "acme" in output(run(db_url, "users", "list"))


def test_an_unknown_org_or_a_bad_name_is_refused_with_the_fix(db_url: str) -> None:
    assert_refused(
        run(db_url, "users", "add", "x@y.test", "--org", "nobody"),
        "no org named 'nobody'",
        "signoff orgs add nobody",
    )
    assert_refused(run(db_url, "orgs", "add", "Bad Name"), "is not an org name")
    assert_ok(run(db_url, "orgs", "add", "acme"))
    assert_refused(run(db_url, "orgs", "add", "acme"), "already exists")
    assert_refused(run(db_url, "orgs", "set", "acme", "--items-per-day", "-3"), "items_per_day")


def test_a_workflow_keeps_its_org(db_url: str, tmp_path: Path) -> None:
    assert_ok(run(db_url, "orgs", "add", "acme"))
    spec = tmp_path / "invoices.yaml"
    spec.write_text(WORKFLOW)
    assert_ok(run(db_url, "workflows", "apply", str(spec)))  # the default org
    spec.write_text(WORKFLOW.replace("0.85", "0.9"))
    assert_refused(
        run(db_url, "workflows", "apply", str(spec), "--org", "acme"), "a workflow keeps its org"
    )
