"""The `signoff` command line."""

from __future__ import annotations

import functools
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from signoff.domain import errors
from signoff.domain.states import Role
from signoff.services import audit as audit_service
from signoff.services import users
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.settings import Settings
from signoff.storage import migrate

app = typer.Typer(
    help="signoff: people in the loop of AI decisions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
workflows_app = typer.Typer(help="Workflow definitions.", no_args_is_help=True)
users_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(workflows_app, name="workflows")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")

console = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn signoff errors and bad settings into a one-line message and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except errors.SignoffError as exc:
            # Details quote user input (YAML lines, names): never read them as rich markup.
            err.print(f"[red]error:[/red] {escape(exc.detail)}")
            raise typer.Exit(1) from None
        except sa.exc.OperationalError as exc:  # unreachable server, missing database, locked file
            err.print(f"[red]error:[/red] database error: {escape(str(exc.orig or exc).strip())}")
            raise typer.Exit(1) from None
        except ValueError as exc:  # pydantic settings validation
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        # Not str(exc): it echoes every input value, the secret key included.
        problems = "; ".join(
            (f"SIGNOFF_{'__'.join(str(part) for part in e['loc']).upper()}: " if e["loc"] else "")
            + e["msg"]
            for e in exc.errors(include_url=False, include_input=False)
        )
        err.print(f"[red]error:[/red] invalid settings: {escape(problems)}")
        raise typer.Exit(2) from None
    except Exception as exc:
        err.print(f"[red]error:[/red] invalid settings: {escape(str(exc))}")
        raise typer.Exit(2) from None


def open_context(check_schema: bool = True) -> Context:
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    ctx = create_context(settings)
    if check_schema:
        migrate.check_schema(ctx.engine)
    return ctx


@db_app.command("upgrade")
@friendly
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version."""
    settings = load_settings()
    migrate.upgrade(settings.database_url)
    console.print(f"database at revision {migrate.head_revision(settings.database_url)}")


@db_app.command("current")
@friendly
def db_current() -> None:
    """Show the database's schema revision."""
    ctx = open_context(check_schema=False)
    console.print(migrate.current_revision(ctx.engine) or "empty")


@workflows_app.command("apply")
@friendly
def workflows_apply(file: Path) -> None:
    """Create or update a workflow from a YAML/JSON file (each change is a new version)."""
    if not file.is_file():
        raise errors.ValidationFailed(f"no such file: {file}")
    ctx = open_context()
    view, created = workflow_service.apply_workflow(ctx, file.read_text(), "cli")
    if created:
        console.print(f"workflow {view.name} is now at version {view.version}")
    else:
        console.print(f"workflow {view.name} unchanged (version {view.version})")


@workflows_app.command("list")
@friendly
def workflows_list() -> None:
    """List workflows and their current versions."""
    ctx = open_context()
    table = Table("name", "version", "provider", "routing")
    for v in workflow_service.list_workflows(ctx):
        table.add_row(v.name, str(v.version), v.spec.ai.provider, v.spec.routing.mode)
    console.print(table)


@users_app.command("add")
@friendly
def users_add(
    email: str,
    role: Annotated[Role, typer.Option(help="admin, reviewer or auditor")] = Role.REVIEWER,
    password: Annotated[str | None, typer.Option(help="Password for the web UI")] = None,
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
) -> None:
    """Add a user."""
    ctx = open_context()
    user_id = users.add_user(ctx, email, role, password=password, display_name=name)
    console.print(f"user {email} added with role {role.value} (id {user_id})")


@users_app.command("list")
@friendly
def users_list() -> None:
    """List users."""
    ctx = open_context()
    table = Table("id", "email", "role", "active")
    for u in users.list_users(ctx):
        table.add_row(str(u.id), u.email, u.role, "yes" if u.active else "no")
    console.print(table)


@users_app.command("set-password")
@friendly
def users_set_password(
    email: str, password: Annotated[str, typer.Option(prompt=True, hide_input=True)]
) -> None:
    """Set a user's web UI password."""
    ctx = open_context()
    users.set_password(ctx, email, password)
    console.print(f"password set for {email}")


@keys_app.command("create")
@friendly
def keys_create(
    name: str,
    user: Annotated[str | None, typer.Option(help="The user the key acts as")] = None,
) -> None:
    """Create an API key; it is printed once and stored hashed."""
    ctx = open_context()
    key_id, token = users.create_key(ctx, name, user)
    err.print(f"API key {name} (id {key_id}) created; it will not be shown again:")
    print(token)


@keys_app.command("list")
@friendly
def keys_list() -> None:
    """List API keys (never their secrets)."""
    ctx = open_context()
    table = Table("id", "name", "user", "created", "revoked")
    for k in users.list_keys(ctx):
        table.add_row(
            str(k.id),
            k.name,
            k.email or "(service)",
            str(k.created_at)[:19],
            str(k.revoked_at)[:19] if k.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
@friendly
def keys_revoke(key_id: int) -> None:
    """Revoke an API key."""
    ctx = open_context()
    users.revoke_key(ctx, key_id, "cli")
    console.print(f"key {key_id} revoked")


@audit_app.command("verify")
@friendly
def audit_verify() -> None:
    """Check every hash chain; exits 1 and names the item/event when one was tampered with."""
    ctx = open_context()
    checked, problems = audit_service.verify_all(ctx)
    if problems:
        for p in problems:
            err.print(f"[red]TAMPERED[/red] {p.describe()}")
        err.print(f"{len(problems)} problem(s) in {checked} events")
        raise typer.Exit(1)
    console.print(f"audit trail verified: {checked} events, every chain intact")


@app.command()
@friendly
def worker(
    concurrency: Annotated[int | None, typer.Option(help="AI-step threads")] = None,
) -> None:
    """Run background workers (AI step, outbox sender) against the database."""
    from signoff.services import live
    from signoff.workers.runner import WorkerPool

    ctx = open_context()
    # On PostgreSQL, this process's decisions reach UI servers' live pages at once.
    bridge = live.start_bridge(ctx)
    pool = WorkerPool(ctx, concurrency=concurrency)
    pool.start()
    console.print(f"worker {pool.name} running ({pool.concurrency} threads); Ctrl-C to stop")
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    pool.stop()
    if bridge is not None:
        bridge.stop()


@app.command()
@friendly
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[bool, typer.Option(help="Run workers in this process")] = True,
) -> None:
    """Serve the API and UI, with workers in the same process."""
    import uvicorn

    from signoff.app import create_app
    from signoff.workers.runner import WorkerPool

    ctx = open_context()
    settings = ctx.settings
    pool = WorkerPool(ctx) if workers and settings.worker.enabled else None
    if pool:
        pool.start()
    application = create_app(ctx=ctx)
    url = f"http://{host or settings.host}:{port or settings.port}"
    console.print(f"signoff serving at {url}")
    try:
        uvicorn.run(
            application, host=host or settings.host, port=port or settings.port, log_level="warning"
        )
    finally:
        if pool:
            pool.stop()


def main() -> None:
    # Commands defined in other modules register on `app` when imported.
    from signoff import cli_demo, cli_learning  # noqa: F401

    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
