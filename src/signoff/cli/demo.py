"""`signoff demo`: a ready-to-explore instance on the embedded defaults."""

from __future__ import annotations

from importlib import resources
from typing import Annotated

import typer
from rich.panel import Panel

from signoff.cli.common import console, friendly, load_settings
from signoff.demo import documents
from signoff.domain.states import Role
from signoff.services import evaluation, intake, training, users
from signoff.services import workflows as workflow_service
from signoff.services.context import create_context
from signoff.storage import migrate

ADMIN = ("admin@example.com", "admin-demo-password")
REVIEWER = ("reviewer@example.com", "reviewer-demo-password")
SEED_LABELS = 120
HISTORY = 300
FRESH = 40


@friendly
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve when ready")
    ] = True,
) -> None:
    """Set up the demo workflow, users, model and documents on SQLite, then serve."""
    settings = load_settings()
    migrate.upgrade(settings.database_url)
    ctx = create_context(settings)
    ctx.sync_training = True
    source = resources.files("signoff.demo").joinpath("workflow.yaml").read_text()
    view, created = workflow_service.apply_workflow(ctx, source, "demo")
    existing = {u.email for u in users.list_users(ctx)}
    for (email, password), role in ((ADMIN, Role.ADMIN), (REVIEWER, Role.REVIEWER)):
        if email not in existing:
            users.add_user(ctx, email, role, password=password)
    if training.count_labels(ctx, view.id) == 0:
        corpus = list(documents.generate(SEED_LABELS + HISTORY + FRESH, seed=7))
        seed, history, fresh = (
            corpus[:SEED_LABELS],
            corpus[SEED_LABELS : SEED_LABELS + HISTORY],
            corpus[SEED_LABELS + HISTORY :],
        )
        with console.status("seeding labels and training the built-in model"):
            training.import_labels(ctx, view.name, seed)
            training.train_workflow(ctx, view.name, actor="demo")
        with console.status(f"replaying {HISTORY} past documents with a simulated reviewer"):
            evaluation.replay(ctx, view.name, history, batch_size=50)
        intake.submit_items(
            ctx, view.name, [intake.NewItem(content={"text": text}) for text, _ in fresh], "demo"
        )
    _, token = users.create_key(ctx, "demo", ADMIN[0], actor="demo")
    ctx.close()
    url = f"http://{settings.host}:{settings.port}"
    console.print(
        Panel.fit(
            f"[bold]signoff demo[/bold] at {url}\n\n"
            f"admin     {ADMIN[0]} / {ADMIN[1]}\n"
            f"reviewer  {REVIEWER[0]} / {REVIEWER[1]}\n"
            f"API key   {token}\n\n"
            f"Try: curl -H 'Authorization: Bearer {token}' {url}/api/v1/items?limit=5",
            title="ready",
        )
    )
    if serve_after:
        from signoff.cli.run import serve

        serve(host=None, port=None, workers=True)
