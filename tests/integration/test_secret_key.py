"""No public secret by default: each installation generates its own key and keeps it private."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from itsdangerous import TimestampSigner

from signoff import installation
from signoff.domain import errors
from signoff.settings import DEV_SECRET, Settings
from signoff.ui import security
from tests.conftest import PG_URL
from tests.integration.test_cli import _free_port, _signoff, assert_refused
from tests.integration.test_ui_security import csrf_of

PASSWORD = "a-long-admin-password"


def _default_env() -> dict[str, str]:
    """The environment of someone following the README: no SIGNOFF_* settings at all."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}


def _forge(cookie: str, secret_key: str) -> str:
    """The same session data, signed as a server with `secret_key` would sign it."""
    data = cookie.rsplit(".", 2)[0].encode()
    assert json.loads(base64.b64decode(data + b"=" * (-len(data) % 4)))["uid"] == 1
    settings = Settings(database_url="sqlite://", secret_key=secret_key)
    signer = TimestampSigner(security.derived_secret(settings, "ui-session"))
    return signer.sign(data).decode()


@pytest.fixture
def default_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`signoff db upgrade`, `users add`, `serve` run in an empty directory with default settings."""
    env = _default_env()
    cli = _signoff()
    subprocess.run([*cli, "db", "upgrade"], cwd=tmp_path, env=env, check=True, capture_output=True)
    subprocess.run(
        [*cli, "users", "add", "admin@example.com", "--role", "admin", "--password-stdin"],
        cwd=tmp_path,
        env=env,
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--no-workers"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"signoff serve did not start: {server.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.1)
        yield base, tmp_path
    finally:
        server.terminate()
        server.wait(30)


def test_cookie_signed_with_the_old_built_in_secret_is_refused_by_a_default_server(
    default_server: tuple[str, Path],
) -> None:
    base, directory = default_server
    with httpx.Client(base_url=base) as browser:
        token = csrf_of(browser.get("/ui/login").text)
        signed_in = browser.post(
            "/ui/login",
            data={"email": "admin@example.com", "password": PASSWORD, "csrf_token": token},
        )
        assert signed_in.status_code == 303
        cookie = browser.cookies["signoff_session"]
    key_file = directory / installation.SECRET_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    generated = key_file.read_text().strip()
    assert len(generated) >= 32 and generated != DEV_SECRET

    def admin_page(cookie_value: str) -> httpx.Response:
        return httpx.get(
            f"{base}/ui/admin/users", cookies={"signoff_session": cookie_value}, timeout=10
        )

    forged = admin_page(_forge(cookie, DEV_SECRET))
    assert forged.status_code == 303 and forged.headers["location"].startswith("/ui/login")
    # The same data signed with this installation's key opens the page: only the key differs.
    assert admin_page(_forge(cookie, generated)).status_code == 200


def test_each_installation_generates_its_own_key_and_keeps_it(tmp_path: Path) -> None:
    first = Settings(database_url=f"sqlite:///{tmp_path / 'one' / 'signoff.db'}")
    second = Settings(database_url=f"sqlite:///{tmp_path / 'two' / 'signoff.db'}")
    key_one = installation.with_secret_key(first).secret_key
    key_two = installation.with_secret_key(second).secret_key
    assert key_one and key_two and key_one != key_two
    assert installation.with_secret_key(first).secret_key == key_one
    assert (tmp_path / "one" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_a_data_dir_setting_keeps_the_key_for_postgres_deployments(tmp_path: Path) -> None:
    settings = Settings(database_url=PG_URL, environment="production", data_dir=str(tmp_path / "d"))
    resolved = installation.with_secret_key(settings)
    assert resolved.secret_key == (tmp_path / "d" / "secret_key").read_text().strip()


def test_a_configured_key_is_used_as_it_is(tmp_path: Path) -> None:
    key = "Zq8v3Lk1Xn0pRt7Yw2Bc5Hm9Jd4Gf6Sa"
    settings = Settings(database_url=f"sqlite:///{tmp_path / 's.db'}", secret_key=key)
    assert installation.with_secret_key(settings).secret_key == key
    assert not (tmp_path / "secret_key").exists()


def test_production_on_postgres_without_a_key_or_data_dir_is_refused() -> None:
    settings = Settings(database_url=PG_URL, environment="production")
    with pytest.raises(errors.ConfigError, match="SIGNOFF_SECRET_KEY is not set") as refused:
        installation.with_secret_key(settings)
    assert "SIGNOFF_DATA_DIR" in refused.value.detail


def test_production_with_an_unusable_data_dir_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings = Settings(
        database_url=PG_URL, environment="production", data_dir=str(blocker / "sub")
    )
    with pytest.raises(errors.ConfigError, match="not writable"):
        installation.with_secret_key(settings)


def test_development_without_anywhere_to_keep_a_key_warns_that_it_uses_the_public_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="signoff.installation"):
        resolved = installation.with_secret_key(Settings(database_url=PG_URL))
    assert resolved.secret_key == DEV_SECRET
    assert "built-in public key" in caplog.text


def test_development_with_the_public_key_configured_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 's.db'}", secret_key=DEV_SECRET)
    with caplog.at_level(logging.WARNING, logger="signoff.installation"):
        installation.with_secret_key(settings)
    assert "public development key" in caplog.text


def test_signoff_serve_in_production_on_postgres_without_a_key_exits_with_the_fix() -> None:
    env = {**_default_env(), "SIGNOFF_DATABASE_URL": PG_URL, "SIGNOFF_ENVIRONMENT": "production"}
    result = subprocess.run(
        [*_signoff(), "serve", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_refused(result, "SIGNOFF_SECRET_KEY is not set", "SIGNOFF_DATA_DIR")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.10", False),
        ("signoff.internal", False),
    ],
)
def test_a_public_key_serves_on_loopback_only(host: str, loopback: bool) -> None:
    weak = Settings(database_url=PG_URL, secret_key=DEV_SECRET)
    if loopback:
        installation.check_bind(weak, host)
    else:
        with pytest.raises(errors.ConfigError, match=f"refusing to serve on {host}"):
            installation.check_bind(weak, host)
    strong = Settings(database_url=PG_URL, secret_key="k" * 8 + "0123456789abcdefghijklmnopqrstuv")
    installation.check_bind(strong, host)


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("postgres-without-data-dir", marks=pytest.mark.postgres),
        "public-key-configured",
    ],
)
def test_signoff_serve_on_every_interface_with_a_public_key_exits_with_the_fix(
    request: pytest.FixtureRequest, tmp_path: Path, where: str
) -> None:
    env = _default_env()
    if where == "postgres-without-data-dir":
        env["SIGNOFF_DATABASE_URL"] = str(request.getfixturevalue("pg_url"))
    else:
        env["SIGNOFF_DATABASE_URL"] = str(request.getfixturevalue("sqlite_url"))
        env["SIGNOFF_SECRET_KEY"] = DEV_SECRET
    result = subprocess.run(
        [*_signoff(), "serve", "--host", "0.0.0.0", "--port", str(_free_port()), "--no-workers"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_refused(result, "refusing to serve on 0.0.0.0", "SIGNOFF_SECRET_KEY", "127.0.0.1")
