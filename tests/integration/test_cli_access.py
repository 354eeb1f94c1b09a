"""`signoff users` and `signoff keys` for access control: password rules, prompts, scopes."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import subprocess
import termios
import time

import pytest
import sqlalchemy as sa

from signoff.domain import errors
from signoff.services import sign_in
from signoff.services.context import Context
from signoff.storage import tables as t
from tests.integration.test_cli import _signoff, assert_ok, assert_refused, output, run

WORKFLOW = "name: alpha\nlabels: [a, b]\nai: {provider: fake}\n"


def _user_count(ctx: Context) -> int:
    with ctx.sessions() as session:
        return int(session.execute(sa.select(sa.func.count()).select_from(t.users)).scalar_one())


@pytest.mark.parametrize(
    ("password", "message"),
    [("x", "at least 12 characters"), ("Password1234", "too common")],
    ids=["one-character", "common"],
)
def test_users_add_refuses_a_weak_password_and_adds_nobody(
    db_url: str, ctx: Context, password: str, message: str
) -> None:
    result = run(db_url, "users", "add", "ann@example.com", "--password", password)
    assert_refused(result, message)
    assert _user_count(ctx) == 0


def test_users_add_reads_the_password_from_stdin(db_url: str, ctx: Context) -> None:
    result = run(
        db_url,
        "users",
        "add",
        "ann@example.com",
        "--password-stdin",
        stdin="a-good-long-password\n",
    )
    assert_ok(result)
    principal, _ = sign_in.sign_in(ctx, "ann@example.com", "a-good-long-password", "192.0.2.1")
    assert principal.email == "ann@example.com"
    assert "a-good-long-password" not in output(result)


def test_users_add_without_a_password_off_a_terminal_adds_a_key_only_user(
    db_url: str, ctx: Context
) -> None:
    result = run(db_url, "users", "add", "bot@example.com")
    assert_ok(result)
    assert "cannot sign in to the web UI" in output(result)
    with ctx.sessions() as session:
        assert session.execute(sa.select(t.users.c.password_hash)).scalar_one() is None


def test_set_password_reads_stdin_applies_the_rules_and_refuses_without_a_password(
    db_url: str, ctx: Context
) -> None:
    assert_ok(run(db_url, "users", "add", "ann@example.com"))
    assert_refused(
        run(
            db_url, "users", "set-password", "ann@example.com", "--password-stdin", stdin="short\n"
        ),
        "at least 12 characters",
    )
    assert_refused(
        run(db_url, "users", "set-password", "ann@example.com"), "--password-stdin", "terminal"
    )
    assert_ok(
        run(
            db_url,
            "users",
            "set-password",
            "ann@example.com",
            "--password-stdin",
            stdin="another-long-password\n",
        )
    )
    sign_in.sign_in(ctx, "ann@example.com", "another-long-password", "192.0.2.2")
    with pytest.raises(errors.Unauthorized):
        sign_in.sign_in(ctx, "ann@example.com", "short", "192.0.2.2")


def _echo_is_off(terminal: int, deadline: float) -> bool:
    """Wait until the prompt has turned echo off (typing earlier would be flushed)."""
    while time.monotonic() < deadline:
        if not termios.tcgetattr(terminal)[3] & termios.ECHO:
            return True
        select.select([], [], [], 0.01)
    return False


def _run_on_a_terminal(db_url: str, args: list[str], answers: list[str]) -> tuple[int, str]:
    """Run signoff with a pseudo-terminal as stdin/stdout, typing each answer after a prompt."""
    leader, follower = pty.openpty()
    env = {**os.environ, "SIGNOFF_DATABASE_URL": db_url, "SIGNOFF_ENVIRONMENT": "development"}

    def own_the_terminal() -> None:
        # A new session whose controlling terminal is the pty, as a login shell's would be:
        # hidden prompts (getpass) read from the controlling terminal.
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        [*_signoff(), *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        preexec_fn=own_the_terminal,
    )
    os.close(follower)
    seen, since_answer, pending = b"", b"", list(answers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            since_answer += chunk
            if pending and since_answer.rstrip().endswith(b":") and _echo_is_off(leader, deadline):
                os.write(leader, pending.pop(0).encode() + b"\n")
                since_answer = b""
        elif process.poll() is not None:
            break
    os.close(leader)
    return process.wait(30), re.sub(r"\x1b\[[0-9;]*m", "", seen.decode(errors="replace"))


def test_users_add_on_a_terminal_asks_twice_hidden_and_asks_again_after_a_refusal(
    db_url: str, ctx: Context
) -> None:
    code, screen = _run_on_a_terminal(
        db_url,
        ["users", "add", "ann@example.com"],
        ["short", "a-typed-long-password", "a-typed-long-password"],
    )
    assert code == 0, screen
    assert "at least 12 characters" in screen
    assert "Repeat it" in screen
    assert "a-typed-long-password" not in screen  # hidden input is not echoed
    sign_in.sign_in(ctx, "ann@example.com", "a-typed-long-password", "192.0.2.3")


def test_keys_create_with_scopes_and_workflows_and_keys_list_shows_them(
    db_url: str, ctx: Context, tmp_path: object
) -> None:
    from pathlib import Path

    spec = Path(str(tmp_path)) / "alpha.yaml"
    spec.write_text(WORKFLOW)
    assert_ok(run(db_url, "workflows", "apply", str(spec)))
    created = run(db_url, "keys", "create", "app", "--scope", "items", "--workflow", "alpha")
    assert_ok(created)
    assert "scope items on alpha" in output(created)
    assert_ok(run(db_url, "keys", "create", "ops", "--scope", "workflows", "--scope", "items"))
    assert_ok(run(db_url, "keys", "create", "plain"))
    assert_refused(run(db_url, "keys", "create", "x", "--scope", "root"), "unknown scope 'root'")
    assert_refused(
        run(db_url, "keys", "create", "x", "--workflow", "nosuch"), "no workflow named 'nosuch'"
    )
    with ctx.sessions() as session:
        rows = session.execute(
            sa.select(t.api_keys.c.name, t.api_keys.c.scopes, t.api_keys.c.workflows).order_by(
                t.api_keys.c.id
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("app", ["items"], ["alpha"]),
        ("ops", ["items", "workflows"], None),
        ("plain", ["items"], None),
    ]
    listed = run(db_url, "keys", "list", COLUMNS="250")
    assert_ok(listed)
    lines = {line.split("│")[2].strip(): line for line in listed.stdout.splitlines() if "│" in line}
    assert "scope items" in lines["app"] and "alpha" in lines["app"] and "never" in lines["app"]
    assert "scope items, workflows" in lines["ops"] and "all" in lines["ops"]
