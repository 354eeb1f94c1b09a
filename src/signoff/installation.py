"""What one installation keeps in its data directory: its own generated secret key.

Without `SIGNOFF_SECRET_KEY`, each installation makes a random key on first start and
keeps it in a file (mode 0600) in the data directory, so no two installations share a
secret and a restart keeps sessions and webhook signatures valid. Processes that share
the data directory (`signoff serve` and `signoff worker`) share the key.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import secrets
import tempfile
from pathlib import Path

import sqlalchemy as sa

from signoff.domain import errors
from signoff.settings import DEV_SECRET, Settings

log = logging.getLogger(__name__)

SECRET_FILE = "secret_key"


def data_dir(settings: Settings) -> Path | None:
    """`data_dir`, else the directory of the SQLite file; None when there is neither."""
    if settings.data_dir:
        return Path(settings.data_dir).expanduser()
    if settings.is_sqlite:
        database = sa.engine.make_url(settings.database_url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            return Path(database).expanduser().resolve().parent
    return None


def with_secret_key(settings: Settings) -> Settings:
    """`settings` with the secret key in force: the configured one, else this installation's."""
    if settings.secret_key:
        if settings.is_weak_secret:
            log.warning(
                "action=weak_secret_key SIGNOFF_SECRET_KEY is the public development key or "
                "too short: anyone who knows it can sign session cookies for this server"
            )
        return settings
    directory = data_dir(settings)
    if directory is not None:
        try:
            key = _read_or_create(directory / SECRET_FILE)
        except OSError as exc:
            problem = f"the data directory {directory} is not writable ({exc.strerror})"
        else:
            return settings.model_copy(update={"secret_key": key})
    else:
        problem = "there is no data directory to keep a generated key in"
    if settings.environment != "development":
        raise errors.ConfigError(
            f"SIGNOFF_SECRET_KEY is not set and {problem}: set SIGNOFF_SECRET_KEY to at least "
            "32 random characters, or SIGNOFF_DATA_DIR to a writable directory"
        )
    log.warning(
        "action=dev_secret_key development mode signs sessions with the built-in public key "
        "because %s; set SIGNOFF_SECRET_KEY or SIGNOFF_DATA_DIR",
        problem,
    )
    return settings.model_copy(update={"secret_key": DEV_SECRET})


def is_loopback(host: str) -> bool:
    """Whether binding `host` listens on this machine only (`localhost`, 127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str) -> None:
    """Refuse to listen beyond this machine while the secret key in force is one anyone may know.

    In development signoff may run on the public built-in key (or a short configured
    one); a cookie signed with it opens the admin pages, so it serves on loopback only.
    """
    if settings.is_weak_secret and not is_loopback(host):
        raise errors.ConfigError(
            f"refusing to serve on {host}: the secret key in force is the public development "
            "key or too short, so anyone could sign session cookies for this server; set "
            "SIGNOFF_SECRET_KEY to at least 32 random characters (or SIGNOFF_DATA_DIR to a "
            "writable directory), or serve on 127.0.0.1"
        )


def _read_or_create(path: Path) -> str:
    """The key in `path`, made first if missing; safe when several processes start at once."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write a private temporary file, then link it into place: the link fails if another
        # process got there first, and nobody ever reads a half-written key.
        fd, temporary = tempfile.mkstemp(prefix=".secret_key.", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    key = path.read_text().strip()
    if len(key) < 32:
        raise errors.ConfigError(
            f"{path} does not hold a usable secret key; remove it to have a new one made "
            "(signed-in users will have to sign in again)"
        )
    if path.stat().st_mode & 0o077:
        log.warning("action=secret_key_readable path=%s is readable by others; chmod 600 it", path)
    return key
