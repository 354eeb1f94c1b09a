"""`signoff items`: bulk operations on items from the terminal."""

from __future__ import annotations

from typing import Annotated

import typer

from signoff.cli.common import console, friendly, open_context
from signoff.domain import errors
from signoff.domain import workflow as wf
from signoff.services import items as item_service
from signoff.services import workflows as workflow_service

items_app = typer.Typer(help="Items.", no_args_is_help=True)


@items_app.command("archive")
@friendly
def items_archive(
    workflow: Annotated[str, typer.Option(help="The workflow whose items to archive")],
    older_than: Annotated[
        str, typer.Option(help="Archive items decided longer ago than this (e.g. 30d, 12h)")
    ],
) -> None:
    """Archive a workflow's decided items older than a given age; prints how many."""
    try:
        age = wf.parse_archive_age(older_than)
    except ValueError as exc:
        raise errors.ValidationFailed(f"--older-than: {exc}", field="older_than") from None
    ctx = open_context()
    try:
        view = workflow_service.get_workflow(ctx, workflow)
        count = item_service.archive_decided(
            ctx, view.id, age, "cli", batch_size=ctx.settings.worker.archive_batch_size
        )
    finally:
        ctx.close()
    console.print(f"archived {count} item{'' if count == 1 else 's'} of workflow {view.name}")
