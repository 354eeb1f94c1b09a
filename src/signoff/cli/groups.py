"""`signoff groups`: reviewer groups and their members."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from signoff.cli.common import console, friendly, open_context
from signoff.cli.orgs import OrgOption, org_id
from signoff.domain import errors
from signoff.services import groups

groups_app = typer.Typer(help="Reviewer groups (who shares a queue).", no_args_is_help=True)


def _skill_options(values: list[str]) -> dict[str, list[str]]:
    """`EMAIL=skill1,skill2` options as email → skills."""
    parsed: dict[str, list[str]] = {}
    for value in values:
        email, sep, skills = value.partition("=")
        if not sep or not email.strip():
            raise errors.ValidationFailed(
                f"--skill {value!r}: use EMAIL=skill1,skill2", field="skill"
            )
        parsed[email.strip()] = [s.strip() for s in skills.split(",") if s.strip()]
    return parsed


@groups_app.command("add")
@friendly
def groups_add(
    name: Annotated[str, typer.Argument(help="The group's name, e.g. clerks")],
    member: Annotated[
        list[str] | None, typer.Option("--member", help="A member's email (repeatable)")
    ] = None,
    skill: Annotated[
        list[str] | None,
        typer.Option("--skill", help="EMAIL=skill1,skill2: a member's skills (repeatable)"),
    ] = None,
    description: Annotated[str | None, typer.Option(help="What the group does")] = None,
    org: OrgOption = None,
) -> None:
    """Create a group, or add members to it; each email must be a user already."""
    ctx = open_context()
    view = groups.add_members(
        ctx,
        name,
        member or [],
        _skill_options(skill or []),
        description=description,
        org_id=org_id(ctx, org),
    )
    console.print(f"group {view.name}: {len(view.members)} member(s)")


@groups_app.command("list")
@friendly
def groups_list() -> None:
    """List groups with their members and skills."""
    ctx = open_context()
    table = Table("group", "member", "skills")
    for view in groups.list_groups(ctx):
        if not view.members:
            table.add_row(view.name, "—", "")
        for m in view.members:
            table.add_row(view.name, m.email, ", ".join(m.skills))
    console.print(table)


@groups_app.command("remove-member")
@friendly
def groups_remove_member(
    name: Annotated[str, typer.Argument(help="The group")],
    email: Annotated[str, typer.Argument(help="The member's email")],
) -> None:
    """Take a member out of a group (their assigned tasks stay theirs)."""
    ctx = open_context()
    view = groups.remove_member(ctx, name, email)
    console.print(f"group {view.name}: {len(view.members)} member(s)")
