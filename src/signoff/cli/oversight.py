"""`signoff gold`: items with a known answer, mixed into reviewers' queues."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signoff.cli.common import console, friendly, open_context
from signoff.domain import errors
from signoff.domain.states import Role
from signoff.services import gold
from signoff.services.users import Principal

gold_app = typer.Typer(
    help="Gold items (a known answer) that measure reviewers.", no_args_is_help=True
)

#: The terminal acts as an operator with the admin role.
_CLI = Principal(user_id=None, email=None, role=Role.ADMIN)


@gold_app.command("import")
@friendly
def gold_import(
    file: Annotated[Path, typer.Argument(help='JSON lines of {"content": {...}, "label": "..."}')],
    workflow: Annotated[str, typer.Option("--workflow", help="The workflow whose queues get them")],
) -> None:
    """Import gold items; they reach reviewers at the workflow's `review.gold_rate`."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise errors.ValidationFailed(f"{file}: cannot read it ({exc})", field="file") from None
    ctx = open_context()
    result = gold.import_gold(ctx, _CLI, workflow, gold.parse_jsonl(text))
    console.print(
        f"imported {result.imported} gold items into {result.workflow}: "
        f"{result.released} in the queue, {result.waiting} waiting"
    )


@gold_app.command("lift-flag")
@friendly
def gold_lift_flag(
    email: Annotated[str, typer.Argument(help="The flagged reviewer's email")],
    workflow: Annotated[str, typer.Option("--workflow", help="The workflow they are flagged on")],
) -> None:
    """Let a flagged reviewer's decisions count again (threshold evidence and training)."""
    ctx = open_context()
    gold.lift_flag(ctx, _CLI, workflow, email)
    console.print(f"{email.strip().lower()} is no longer flagged on {workflow}")
