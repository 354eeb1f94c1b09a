"""`signoff db | workflows | users | keys | audit`: administration from the terminal."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from signoff.cli.common import console, err, friendly, load_settings, open_context
from signoff.cli.orgs import OrgOption, org_id
from signoff.domain import access, errors
from signoff.domain.states import Role
from signoff.services import audit as audit_service
from signoff.services import users
from signoff.services import workflows as workflow_service
from signoff.services.orgs import org_names
from signoff.storage import migrate

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
workflows_app = typer.Typer(help="Workflow definitions.", no_args_is_help=True)
users_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)


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
def workflows_apply(
    file: Annotated[Path, typer.Argument(help="The workflow's YAML or JSON file")],
    org: OrgOption = None,
) -> None:
    """Create or update a workflow from a YAML/JSON file (each change is a new version)."""
    if not file.is_file():
        raise errors.ValidationFailed(f"no such file: {file}")
    ctx = open_context()
    view, created = workflow_service.apply_workflow(
        ctx, file.read_text(), "cli", org_id=org_id(ctx, org)
    )
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


def _read_password(
    email: str, password: str | None, from_stdin: bool, required: bool
) -> str | None:
    """The new password: from --password, from stdin, or asked for (hidden, twice) on a terminal."""
    if password is not None and from_stdin:
        raise errors.ValidationFailed("give --password or --password-stdin, not both")
    if from_stdin:
        given = sys.stdin.readline().rstrip("\r\n")
        if not given:
            raise errors.ValidationFailed("--password-stdin: no password on standard input")
        return given
    if password is not None:
        return password
    if not sys.stdin.isatty():
        if required:
            raise errors.ValidationFailed(
                "no password given: pass --password-stdin and pipe it in, or run on a terminal"
            )
        return None
    # Check the rules before asking twice, so a refused password is not typed again for nothing.
    while True:
        first = typer.prompt(f"Password for {email}", hide_input=True)
        try:
            users.check_password_rules(first, email)
        except errors.ValidationFailed as exc:
            err.print(f"[red]{exc.detail}[/red]")
            continue
        if typer.prompt("Repeat it", hide_input=True) == first:
            return str(first)
        err.print("[red]the two passwords differ; try again[/red]")


@users_app.command("add")
@friendly
def users_add(
    email: str,
    role: Annotated[Role, typer.Option(help="admin, reviewer or auditor")] = Role.REVIEWER,
    password: Annotated[
        str | None,
        typer.Option(help="Password for the web UI (visible in shell history: prefer the prompt)"),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    org: OrgOption = None,
) -> None:
    """Add a user; asks for a password on a terminal (none: the user signs in by API key only).

    With `--org` the user works in that org only (an admin there manages only it);
    without, the user is the platform's and sees every org.
    """
    ctx = open_context()
    in_org = org_id(ctx, org)
    secret = _read_password(email, password, password_stdin, required=False)
    user_id = users.add_user(ctx, email, role, password=secret, display_name=name, org_id=in_org)
    console.print(f"user {email} added with role {role.value} (id {user_id})")
    if secret is None:
        console.print("no password set: the user cannot sign in to the web UI until one is")


@users_app.command("list")
@friendly
def users_list() -> None:
    """List users."""
    ctx = open_context()
    table = Table("id", "email", "role", "org", "active")
    names = org_names(ctx)
    for u in users.list_users(ctx):
        org = names.get(u.org_id, "(platform)")
        table.add_row(str(u.id), u.email, u.role, org, "yes" if u.active else "no")
    console.print(table)


@users_app.command("set-password")
@friendly
def users_set_password(
    email: str,
    password: Annotated[
        str | None, typer.Option(help="The new password (prefer the prompt or --password-stdin)")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Set a user's web UI password; their open sessions end."""
    ctx = open_context()
    secret = _read_password(email, password, password_stdin, required=True)
    assert secret is not None
    users.set_password(ctx, email, secret)
    console.print(f"password set for {email}; their open sessions have ended")


@keys_app.command("create")
@friendly
def keys_create(
    name: str,
    user: Annotated[
        str | None, typer.Option(help="The user the key acts as (with that user's role)")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="What a service key may do: items (the default), workflows, admin; repeatable"
        ),
    ] = None,
    workflow: Annotated[
        list[str] | None, typer.Option(help="Only this workflow (repeatable; default: all)")
    ] = None,
    expires_in: Annotated[
        str | None, typer.Option(help="Stop working after this long (e.g. 90d, 12h, 2w)")
    ] = None,
    org: OrgOption = None,
) -> None:
    """Create an API key; it is printed once and stored hashed.

    A service key with `--org` works in that org only; a personal key works in its user's.
    """
    try:
        scopes = access.parse_scopes(scope)
    except ValueError as exc:
        raise errors.ValidationFailed(f"--scope: {exc}") from None
    lifetime = _lifetime("--expires-in", expires_in)
    ctx = open_context()
    key_id, token = users.create_key(
        ctx,
        name,
        user,
        scopes=scopes,
        workflows=workflow,
        expires_in=lifetime,
        org_id=org_id(ctx, org),
    )
    shown = sorted(s.value for s in scopes or access.DEFAULT_SCOPES)
    what = f"acts as {user}" if user else "scope " + ", ".join(shown)
    where = f" on {', '.join(workflow)}" if workflow else ""
    until = f", expires in {expires_in}" if expires_in else ""
    err.print(
        f"API key {name} (id {key_id}, {what}{where}{until}) created; it will not be shown again:"
    )
    print(token)


def _lifetime(option: str, text: str | None) -> timedelta | None:
    if text is None:
        return None
    try:
        return users.parse_key_lifetime(text)
    except errors.ValidationFailed as exc:
        raise errors.ValidationFailed(f"{option}: {exc.detail.partition(': ')[2]}") from None


@keys_app.command("rotate")
@friendly
def keys_rotate(
    key_id: int,
    expires_in: Annotated[
        str | None,
        typer.Option(help="The new key's lifetime (default: as long as the old one was made for)"),
    ] = None,
    overlap: Annotated[
        str | None,
        typer.Option(help="Keep the old key working this long (e.g. 1h) so callers can switch"),
    ] = None,
) -> None:
    """Replace an API key with a new one with the same powers; the new key is printed once."""
    lifetime = _lifetime("--expires-in", expires_in)
    grace = _lifetime("--overlap", overlap)
    ctx = open_context()
    new_id, token = users.rotate_key(ctx, key_id, "cli", expires_in=lifetime, overlap=grace)
    old = f"key {key_id} stops in {overlap}" if overlap else f"key {key_id} revoked"
    err.print(f"{old}; its replacement (id {new_id}) will not be shown again:")
    print(token)


@keys_app.command("list")
@friendly
def keys_list() -> None:
    """List API keys (never their secrets), with scopes, workflows and when last used."""
    ctx = open_context()
    table = Table(
        "id",
        "name",
        "user",
        "org",
        "scopes",
        "workflows",
        "created",
        "expires",
        "last used",
        "revoked",
    )
    names = org_names(ctx)
    for k in users.list_keys(ctx):
        table.add_row(
            str(k.id),
            k.name,
            k.email or "(service)",
            names.get(k.org_id, "(platform)"),
            users.key_powers(k),
            ", ".join(k.workflows) if k.workflows else "all",
            str(k.created_at)[:19],
            str(k.expires_at)[:19] if k.expires_at else "never",
            str(k.last_used_at)[:19] if k.last_used_at else "never",
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
def audit_verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="A signed checkpoint: also detect chains rewritten or cut since it"),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            help="The checkpoint signer's public key (default: SIGNOFF_AUDIT__SIGNING_KEY_FILE's)"
        ),
    ] = None,
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental",
            help="Re-hash only events after the checkpoint's heads (it vouches for the rest)",
        ),
    ] = False,
) -> None:
    """Check every hash chain; exits 1 and names the item/event when one was tampered with."""
    if incremental and checkpoint is None:
        raise errors.ValidationFailed("--incremental needs --checkpoint FILE")
    ctx = open_context()
    anchor = None
    if checkpoint is not None:
        anchor = audit_service.read_checkpoint(
            checkpoint, audit_service.public_key(ctx, public_key)
        )
    report = audit_service.verify(ctx, checkpoint=anchor, incremental=incremental)
    speed = (
        f"{report.rehashed} re-hashed in {report.seconds:.2f} s, "
        f"{report.events_per_second:,.0f} events/s"
    )
    if report.problems:
        for p in report.problems:
            err.print(f"[red]TAMPERED[/red] {p.describe()}")
        err.print(f"{len(report.problems)} problem(s) in {report.checked} events")
        raise typer.Exit(1)
    if incremental:
        console.print(
            f"audit trail verified since the checkpoint: {report.checked} events read, "
            "every chain intact"
        )
    else:
        console.print(f"audit trail verified: {report.checked} events, every chain intact")
    if anchor is not None:
        console.print(
            f"matches the checkpoint of {anchor.created_at.isoformat()} "
            f"({len(anchor.heads)} chains, {anchor.events} events then)"
        )
    if report.legacy:
        console.print(
            f"{report.legacy} legacy SHA-256 events (written before keyed chains); "
            "compare with a checkpoint to rule out a rewrite of them"
        )
    console.print(speed)


@audit_app.command("checkpoint")
@friendly
def audit_checkpoint(
    output: Annotated[Path, typer.Option(help="Where to write the signed checkpoint (JSON)")],
) -> None:
    """Verify the trail, then sign its chains' heads (SIGNOFF_AUDIT__SIGNING_KEY_FILE) into a file."""
    ctx = open_context()
    data, checkpoint = audit_service.create_checkpoint(ctx)
    audit_service.write_checkpoint(output, data)
    console.print(
        f"checkpoint of {len(checkpoint.heads)} chains, {checkpoint.events} events, "
        f"signed at {checkpoint.created_at.isoformat()}, written to {output}"
    )


@audit_app.command("keygen")
@friendly
def audit_keygen(
    output: Annotated[
        Path, typer.Option(help="The private key file to create (the public key goes to FILE.pub)")
    ],
) -> None:
    """Make an Ed25519 key pair for signing checkpoints (private key file mode 0600)."""
    public = audit_service.write_key_pair(output)
    console.print(f"private key {output} (mode 0600), public key {public}")
    console.print(
        "keep the private key off the database server; set SIGNOFF_AUDIT__SIGNING_KEY_FILE to it"
    )
