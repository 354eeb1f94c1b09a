"""The `signoff` command line, assembled from one module per concern."""

from __future__ import annotations

import sys

import typer

from signoff.cli import (
    admin,
    common,
    compliance,
    demo,
    groups,
    items,
    learning,
    orgs,
    oversight,
    run,
)

app = typer.Typer(
    cls=common.Group,
    help="signoff: people in the loop of AI decisions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(admin.db_app, name="db", cls=common.Group)
app.add_typer(admin.workflows_app, name="workflows", cls=common.Group)
app.add_typer(admin.users_app, name="users", cls=common.Group)
app.add_typer(admin.keys_app, name="keys", cls=common.Group)
app.add_typer(admin.audit_app, name="audit", cls=common.Group)
app.add_typer(items.items_app, name="items", cls=common.Group)
app.add_typer(groups.groups_app, name="groups", cls=common.Group)
app.add_typer(orgs.orgs_app, name="orgs", cls=common.Group)
app.add_typer(oversight.gold_app, name="gold", cls=common.Group)
app.add_typer(compliance.export_app, name="export", cls=common.Group)
admin.workflows_app.command("pause")(common.friendly(compliance.workflows_pause))
admin.workflows_app.command("resume")(common.friendly(compliance.workflows_resume))
items.items_app.command("hold")(common.friendly(compliance.items_hold))
app.command()(run.serve)
app.command()(run.worker)
app.command()(demo.demo)
app.command()(demo.init)
app.command("import-labels")(learning.import_labels)
app.command()(learning.train)
app.command()(learning.calibrate)
app.command("eval")(learning.eval_command)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
