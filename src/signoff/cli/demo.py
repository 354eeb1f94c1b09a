"""`signoff demo`: a ready-to-explore instance on the embedded defaults."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.panel import Panel

from signoff.cli import run
from signoff.cli.common import console, friendly, load_settings
from signoff.demo import history
from signoff.domain import errors
from signoff.domain.states import Role
from signoff.services import users
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.settings import Settings
from signoff.storage import migrate

ADMIN = ("admin@example.com", "admin-demo-password")
REVIEWER = ("reviewer@example.com", "reviewer-demo-password")
KEY_NAME = "demo"


@friendly
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve when ready, or only set up")
    ] = True,
    host: run.HostOption = None,
    port: run.PortOption = None,
) -> None:
    """Set up the demo workflow, users, model and documents on SQLite, then serve."""
    settings = load_settings()
    migrate.upgrade(settings.database_url)
    ctx = create_context(settings)
    source = resources.files("signoff.demo").joinpath("workflow.yaml").read_text()
    view, _ = workflow_service.apply_workflow(ctx, source, "demo")
    existing = {u.email for u in users.list_users(ctx)}
    for (email, password), role in ((ADMIN, Role.ADMIN), (REVIEWER, Role.REVIEWER)):
        if email not in existing:
            users.add_user(ctx, email, role, password=password)
    if history.needs_seeding(ctx, view.id):
        with console.status("training the built-in model and replaying 14 days of reviews"):
            history.seed(settings, view.name)
    token = _demo_key(ctx, settings)
    ctx.close()
    url = f"http://{host or settings.host}:{port or settings.port}"
    console.print(
        Panel.fit(
            f"[bold]signoff demo[/bold] at {url}\n\n"
            f"admin     {ADMIN[0]} / {ADMIN[1]}\n"
            f"reviewer  {REVIEWER[0]} / {REVIEWER[1]}\n"
            f"API key   {token}\n\n"
            f"Try: curl -H 'Authorization: Bearer {token}' '{url}/api/v1/items?limit=5'",
            title="ready",
        )
    )
    if serve_after:
        run.serve(host=host, port=port, workers=True)


def _demo_key(ctx: Context, settings: Settings) -> str:
    """The demo admin's API key: made once and kept beside the SQLite file, so reruns reuse it."""
    path = _key_file(settings)
    if path is not None and path.is_file():
        token = path.read_text().strip()
        try:
            users.authenticate_key(ctx, token)
            return token
        except errors.SignoffError:
            pass  # revoked, or the database was replaced: make a new one
    _, token = users.create_key(ctx, KEY_NAME, ADMIN[0], actor="demo")
    if path is None:
        return token
    # Written readable by its owner only: it is an admin credential.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def _key_file(settings: Settings) -> Path | None:
    if not settings.is_sqlite:
        return None
    database = sa.engine.make_url(settings.database_url).database
    if not database or database == ":memory:":
        return None
    return Path(database).with_name(Path(database).name + ".demo-key")
