"""Which environment variables and secrets a workflow may name as a provider credential.

A workflow names its credential (`ai.options.api_key_env`, `ai.options.headers_env`,
`delivery.secret_env`); signoff reads it and sends it to the workflow's URL. So only
credentials the operator meant for workflows are readable: variables named
`SIGNOFF_CREDENTIAL_*`, names listed in `SIGNOFF_OUTBOUND__CREDENTIALS` (optionally
bound to one host with `NAME@host`), and files in the secrets directory. signoff's
own settings (every other `SIGNOFF_*` variable) are never readable by a workflow.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from signoff.outbound import guard

PREFIX = "SIGNOFF_CREDENTIAL_"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Option names that would put a credential itself (not its variable's name) in a workflow.
_CREDENTIAL_KEY = re.compile(
    r"(api[_-]?key|apikey|token|secret|passw(or)?d|authorization|bearer|credential|"
    r"private[_-]?key|cookie|^auth$|^headers?$)",
    re.IGNORECASE,
)
#: Names that match the pattern above but hold a variable's name or a token count.
_NOT_CREDENTIAL = re.compile(r"(_env$|^max_tokens$|_tokens$|^tokens_per_minute$)")
_CREDENTIAL_VALUE = re.compile(r"^(sk-|Bearer\s|Basic\s|ghp_|xox[bp]-|whsec_)", re.IGNORECASE)


def is_settings_name(name: str) -> bool:
    """Whether `name` is (or could be) one of signoff's own settings variables."""
    upper = name.upper()
    return upper.startswith("SIGNOFF_") and not upper.startswith(PREFIX)


@dataclass(frozen=True)
class CredentialPolicy:
    """Listed names, each with the hosts it may be sent to (empty: any host)."""

    listed: MappingProxyType[str, frozenset[str]]

    @classmethod
    def parse(cls, entries: str) -> CredentialPolicy:
        """Parse `NAME,OTHER@host`; ValueError names a bad entry or a settings variable."""
        listed: dict[str, set[str] | None] = {}
        for raw in entries.split(","):
            entry = raw.strip()
            if not entry:
                continue
            name, at, host = entry.partition("@")
            host = host.strip().lower().rstrip(".")
            if not _NAME.match(name) or (at and not host):
                raise ValueError(f"{entry!r} is not NAME or NAME@host")
            if is_settings_name(name):
                raise ValueError(f"{name} is a signoff setting and cannot be a workflow credential")
            hosts = listed.get(name, set())
            if not host:
                listed[name] = None  # listed without a host: it may go anywhere
            elif hosts is not None:
                listed[name] = hosts | {host}
        frozen = {n: frozenset(h or ()) for n, h in listed.items()}
        return cls(MappingProxyType(frozen))


def check(settings: Any, name: str, field: str, host: str | None) -> None:
    """Refuse (OutboundRefused naming `field`) a credential the workflow may not read."""
    if not _NAME.match(name):
        raise _refused(field, f"{name!r} is not an environment variable name")
    if is_settings_name(name):
        raise _refused(
            field,
            f"{name} is a signoff setting; settings are never readable by a workflow "
            f"(name provider credentials {PREFIX}...)",
        )
    if name.startswith(PREFIX):
        return
    outbound = getattr(settings, "outbound", None)
    policy = CredentialPolicy.parse(getattr(outbound, "credentials", "") or "")
    hosts = policy.listed.get(name)
    if hosts is not None:
        if not hosts or (host is not None and host.lower().rstrip(".") in hosts):
            return
        raise _refused(
            field,
            f"{name} may only be sent to {', '.join(sorted(hosts))}, not to {host}",
        )
    secrets_dir = getattr(settings, "secrets_dir", None)
    if secrets_dir and (Path(secrets_dir) / name).is_file():
        return
    raise _refused(
        field,
        f"{name} is not a credential workflows may use: name it {PREFIX}..., list it in "
        "SIGNOFF_OUTBOUND__CREDENTIALS, or put it in the secrets directory",
    )


def is_allowed(settings: Any, name: str, host: str | None) -> bool:
    try:
        check(settings, name, "credential", host)
    except guard.OutboundRefused:
        return False
    return True


def refuse_inline(options: dict[str, Any], prefix: str = "ai.options") -> None:
    """Refuse options that hold a credential itself rather than the name of its variable."""
    for key, value in options.items():
        field = f"{prefix}.{key}"
        looks_like_key = _CREDENTIAL_KEY.search(key) and not _NOT_CREDENTIAL.search(key)
        looks_like_value = isinstance(value, str) and _CREDENTIAL_VALUE.match(value)
        if looks_like_key or looks_like_value:
            raise _refused(
                field,
                "credentials must not be written in a workflow (they would be stored and "
                "shown to reviewers and auditors); name the environment variable or secret "
                "that holds it instead (e.g. api_key_env, headers_env)",
            )
        if isinstance(value, dict):
            refuse_inline(value, field)


def _refused(field: str, message: str) -> guard.OutboundRefused:
    return guard.OutboundRefused(
        f"{field}: {message}", field=field, problems=[{"field": field, "message": message}]
    )


def read_credential(
    settings: Any,
    name: str,
    field: str,
    *,
    host: str | None = None,
    host_of: Callable[[str], str | None] | None = None,
) -> str | None:
    """The value of a credential a workflow names, if it may be sent to `host`; None if unset.

    `host_of` gives the host from the value itself (a webhook URL kept as a credential),
    checked before the value is returned. OutboundRefused names `field` otherwise.
    """
    if host_of is None:
        check(settings, name, field, host)
    elif not (name.startswith(PREFIX) or name in _listed(settings)):
        check(settings, name, field, None)  # refuses an unusable name before it is read
    value = os.environ.get(name)
    secrets_dir = getattr(settings, "secrets_dir", None)
    if not value and secrets_dir and (Path(secrets_dir) / name).is_file():
        value = (Path(secrets_dir) / name).read_text().strip()
    if not value:
        return None
    check(settings, name, field, host_of(value) if host_of is not None else host)
    return value


def _listed(settings: Any) -> MappingProxyType[str, frozenset[str]]:
    outbound = getattr(settings, "outbound", None)
    return CredentialPolicy.parse(getattr(outbound, "credentials", "") or "").listed
