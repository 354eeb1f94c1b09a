"""`signoff orgs`: organisations (tenants) and their limits."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from signoff.cli.common import console, friendly, open_context
from signoff.services import orgs
from signoff.services.context import Context

orgs_app = typer.Typer(help="Organisations (tenants) and their limits.", no_args_is_help=True)

#: The option that puts what a command creates in an org (none: the platform's, or `default`).
OrgOption = Annotated[
    str | None,
    typer.Option(help="The org it belongs to (see `signoff orgs list`)"),
]

_ItemsPerDay = Annotated[
    int | None, typer.Option(help="Items the org may submit per UTC day (0: no limit)")
]
_OpenTasks = Annotated[
    int | None, typer.Option(help="Review tasks the org may have waiting (0: no limit)")
]
_RequestsPerMinute = Annotated[
    int | None, typer.Option(help="Requests each of the org's API keys may make per minute")
]


def org_id(ctx: Context, name: str | None) -> int | None:
    """The id of the org `--org` names (None when not given)."""
    return None if name is None else orgs.org_id(ctx, name)


@orgs_app.command("add")
@friendly
def orgs_add(
    name: Annotated[str, typer.Argument(help="The org's name, e.g. acme")],
    display_name: Annotated[str | None, typer.Option(help="A name for people")] = None,
    items_per_day: _ItemsPerDay = None,
    open_tasks: _OpenTasks = None,
    requests_per_minute: _RequestsPerMinute = None,
) -> None:
    """Add an org; limits left out follow the settings' defaults."""
    ctx = open_context()
    view = orgs.add_org(
        ctx,
        name,
        display_name=display_name,
        items_per_day=items_per_day,
        open_tasks=open_tasks,
        requests_per_minute=requests_per_minute,
    )
    console.print(f"org {view.name} added (id {view.id})")


@orgs_app.command("set")
@friendly
def orgs_set(
    name: Annotated[str, typer.Argument(help="The org's name")],
    items_per_day: _ItemsPerDay = None,
    open_tasks: _OpenTasks = None,
    requests_per_minute: _RequestsPerMinute = None,
) -> None:
    """Change an org's limits (only the ones given)."""
    given = {
        "items_per_day": items_per_day,
        "open_tasks": open_tasks,
        "requests_per_minute": requests_per_minute,
    }
    ctx = open_context()
    view = orgs.set_limits(ctx, name, {k: v for k, v in given.items() if v is not None})
    console.print(f"org {view.name}: limits saved")


@orgs_app.command("list")
@friendly
def orgs_list() -> None:
    """List orgs and their limits (— : the settings' default)."""
    ctx = open_context()
    table = Table("id", "name", "display name", "items/day", "open tasks", "requests/min")
    for o in orgs.list_orgs(ctx):
        table.add_row(
            str(o.id),
            o.name,
            o.display_name or "",
            *(
                "—" if v is None else str(v)
                for v in (o.items_per_day, o.open_tasks, o.requests_per_minute)
            ),
        )
    console.print(table)
