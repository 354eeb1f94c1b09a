"""`signoff demo`: a ready-to-explore instance on the embedded defaults."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.panel import Panel

from signoff import templates
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
    template: Annotated[
        str, typer.Option(metavar="NAME", help=f"One of {', '.join(templates.TEMPLATES)}")
    ] = "document-review",
) -> None:
    """Set up a demo workflow, users, model and records on SQLite, then serve."""
    chosen = templates.get_template(template)
    settings = load_settings()
    migrate.upgrade(settings.database_url)
    ctx = create_context(settings)
    view, _ = workflow_service.apply_workflow(ctx, chosen.workflow_source(), "demo")
    existing = {u.email for u in users.list_users(ctx)}
    for (email, password), role in ((ADMIN, Role.ADMIN), (REVIEWER, Role.REVIEWER)):
        if email not in existing:
            users.add_user(ctx, email, role, password=password)
    if history.needs_seeding(ctx, view.id):
        with console.status("training the built-in model and replaying 14 days of reviews"):
            history.seed(settings, view.name, template=chosen)
    token = _demo_key(ctx, settings)
    ctx.close()
    url = f"http://{host or settings.host}:{port or settings.port}"
    console.print(
        Panel.fit(
            f"[bold]signoff demo[/bold] of {view.name} at {url}\n\n"
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


@friendly
def init(
    template: Annotated[str, typer.Argument(help=f"One of {', '.join(templates.TEMPLATES)}")],
    directory: Annotated[
        Path | None, typer.Argument(help="Where to write (default: ./TEMPLATE)")
    ] = None,
    samples: Annotated[int, typer.Option(min=1, max=100_000, help="Sample records")] = 500,
    force: Annotated[bool, typer.Option(help="Overwrite files that exist")] = False,
) -> None:
    """Write a ready workflow, generated sample records and a README for a use case."""
    chosen = templates.get_template(template)
    target = directory or Path(chosen.name)
    files = {
        "workflow.yaml": chosen.workflow_source(),
        "sample.jsonl": "".join(
            json.dumps(e.to_json()) + "\n" for e in chosen.examples(samples, seed=21)
        ),
        "README.md": _readme(chosen, samples),
    }
    existing = [name for name in files if (target / name).exists()]
    if existing and not force:
        raise errors.ValidationFailed(
            f"{target} already has {', '.join(existing)}; pass --force to overwrite"
        )
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text)
    console.print(f"wrote {', '.join(files)} to {target}; see {target / 'README.md'}")


def _readme(template: templates.Template, samples: int) -> str:
    name = template.name
    return f"""# {name}

{template.summary[0].upper()}{template.summary[1:]}.

- `workflow.yaml`: the workflow (labels, routing, review, SLA); edit it to suit.
- `sample.jsonl`: {samples} generated records, one JSON object per line
  (`text`, the `label` a careful reviewer gives, and `metadata` where the workflow uses it).

Try it on a throwaway SQLite database:

```sh
signoff demo --template {name}            # serve it with a trained model and two weeks of history
signoff workflows apply workflow.yaml     # or: load it into your own instance
signoff import-labels {name} sample.jsonl # seed the built-in model with the labelled samples
signoff train {name}
signoff eval sample.jsonl --workflow workflow.yaml  # replay with a simulated reviewer
```

Submit real records with `POST /api/v1/workflows/{name}/items`
(`{{"content": {{"text": ...}}, "metadata": {{...}}}}`); decisions come back by webhook
(`delivery.webhook_url`) or the Python client.
"""
