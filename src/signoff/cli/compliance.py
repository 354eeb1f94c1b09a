"""Compliance from the terminal: pause and resume workflows, legal holds, decision export."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from signoff.cli.common import console, friendly, open_context
from signoff.domain import compliance as compliance_rules
from signoff.domain import errors
from signoff.domain.states import Role
from signoff.services import compliance, retention, stop_switch
from signoff.services.users import Principal

export_app = typer.Typer(help="Export records for auditors.", no_args_is_help=True)

#: Who the terminal acts as: the operator running it, with an admin's reach.
_CLI = Principal(user_id=None, email=None, role=Role.ADMIN)


def workflows_pause(
    name: Annotated[str, typer.Argument(help="The workflow to pause")],
    mode: Annotated[
        compliance_rules.PauseMode,
        typer.Option(help="refuse: intake answers 503; all_to_people: every item is reviewed"),
    ] = compliance_rules.PauseMode.REFUSE,
    reason: Annotated[str | None, typer.Option(help="Why (shown in the UI and the API)")] = None,
) -> None:
    """Pause a workflow (the stop switch); audited."""
    ctx = open_context()
    try:
        view = stop_switch.pause_workflow(ctx, name, mode, reason, "cli")
    finally:
        ctx.close()
    assert view.pause is not None
    console.print(f"workflow {view.name} paused ({view.pause.mode.value})")


def workflows_resume(name: Annotated[str, typer.Argument(help="The workflow to resume")]) -> None:
    """Resume a paused workflow; audited."""
    ctx = open_context()
    try:
        view = stop_switch.resume_workflow(ctx, name, "cli")
    finally:
        ctx.close()
    console.print(f"workflow {view.name} resumed")


def items_hold(
    item_id: Annotated[int, typer.Argument(help="The item to hold")],
    release: Annotated[bool, typer.Option("--release", help="Release the hold instead")] = False,
    reason: Annotated[str | None, typer.Option(help="Why the item is held")] = None,
) -> None:
    """Put an item on legal hold (retention leaves its content alone), or release it."""
    ctx = open_context()
    try:
        retention.set_hold(ctx, item_id, "cli", hold=not release, reason=reason)
    finally:
        ctx.close()
    console.print(f"item {item_id} {'released' if release else 'on legal hold'}")


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise errors.ValidationFailed(
            f"{option}: {text!r} is not an ISO 8601 date or time", field=option
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@export_app.command("decisions")
@friendly
def export_decisions(
    workflow: Annotated[str, typer.Option(help="The workflow whose decisions to export")],
    since: Annotated[str | None, typer.Option(help="Decided at or after (ISO 8601)")] = None,
    until: Annotated[str | None, typer.Option(help="Decided before (ISO 8601)")] = None,
    format: Annotated[
        compliance.ExportFormat, typer.Option("--format", help="jsonl or csv")
    ] = compliance.ExportFormat.JSONL,
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output")
    ] = None,
) -> None:
    """Export a workflow's decisions in a period as JSONL or CSV (formula-safe cells)."""
    start, end = _when(since, "--since"), _when(until, "--until")
    ctx = open_context()
    try:
        chunks = compliance.export_decisions(
            ctx, _CLI, workflow, fmt=format, since=start, until=end
        )
        if output is None:
            for chunk in chunks:
                sys.stdout.write(chunk)
            sys.stdout.flush()
        else:
            with output.open("w", encoding="utf-8", newline="") as handle:
                for chunk in chunks:
                    handle.write(chunk)
    finally:
        ctx.close()
