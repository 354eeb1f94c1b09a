"""Rules on users that hold for every edge because the service enforces them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from signoff.domain import errors
from signoff.domain.states import Role
from signoff.services import users
from signoff.services.context import Context
from tests.conftest import Keys
from tests.integration.test_ui_security import sign_in


def _user(ctx: Context, email: str) -> Any:
    return next(u for u in users.list_users(ctx) if u.email == email)


@pytest.mark.parametrize(
    ("role", "active"),
    [(Role.REVIEWER, True), (Role.AUDITOR, True), (Role.ADMIN, False)],
    ids=["demote-to-reviewer", "demote-to-auditor", "deactivate"],
)
def test_an_admin_cannot_demote_or_deactivate_themselves(
    ctx: Context, role: Role, active: bool
) -> None:
    admin_id = users.add_user(ctx, "boss@example.com", Role.ADMIN)
    with pytest.raises(errors.Forbidden, match="cannot demote or deactivate yourself") as refused:
        users.set_role(
            ctx, admin_id, role, active, "user:boss@example.com", acting_user_id=admin_id
        )
    assert refused.value.context == {"field": "role"}
    row = _user(ctx, "boss@example.com")
    assert (row.role, bool(row.active)) == ("admin", True)


def test_an_admin_saving_themselves_unchanged_is_allowed(ctx: Context) -> None:
    admin_id = users.add_user(ctx, "boss@example.com", Role.ADMIN)
    users.set_role(
        ctx, admin_id, Role.ADMIN, True, "user:boss@example.com", acting_user_id=admin_id
    )
    row = _user(ctx, "boss@example.com")
    assert (row.role, bool(row.active)) == ("admin", True)


def test_another_admin_or_the_cli_may_demote_and_deactivate_an_admin(ctx: Context) -> None:
    boss = users.add_user(ctx, "boss@example.com", Role.ADMIN)
    other = users.add_user(ctx, "other@example.com", Role.ADMIN)
    users.set_role(ctx, other, Role.REVIEWER, True, "user:boss@example.com", acting_user_id=boss)
    users.set_role(ctx, boss, Role.ADMIN, False, "cli", acting_user_id=None)
    assert _user(ctx, "other@example.com").role == "reviewer"
    assert not _user(ctx, "boss@example.com").active


def test_the_admin_page_refuses_self_demotion_through_the_service(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    token = sign_in(client, "admin@example.com", "admin-password-1")
    me = _user(ctx, "admin@example.com")
    response = client.post(
        f"/ui/admin/users/{me.id}", data={"csrf_token": token, "role": "reviewer", "active": "1"}
    )
    assert response.status_code == 200 and str(response.url).endswith("/ui/admin/users")
    assert "cannot demote or deactivate yourself" in response.text
    assert _user(ctx, "admin@example.com").role == "admin"


def test_user_workflows_must_follow_the_workflow_name_rule(ctx: Context) -> None:
    with pytest.raises(errors.ValidationFailed, match="'Bad Name' is not a workflow name") as bad:
        users.add_user(ctx, "scoped@example.com", Role.REVIEWER, workflows=["docs", "Bad Name"])
    assert bad.value.context == {"field": "workflows"}
    assert [u for u in users.list_users(ctx) if u.email == "scoped@example.com"] == []
    users.add_user(ctx, "scoped@example.com", Role.REVIEWER, workflows=["docs", "claims-2"])
    assert _user(ctx, "scoped@example.com").workflows == ["docs", "claims-2"]
