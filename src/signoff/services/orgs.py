"""Organisations (tenants): create them, find them, and hold them to their limits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from signoff.domain import audit as audit_rules
from signoff.domain import errors
from signoff.services.context import Context
from signoff.storage import audit, engine, orgs

_ORG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: The limits an org may set for itself, with their largest value.
LIMITS = {
    "items_per_day": 1_000_000_000,
    "open_tasks": 1_000_000_000,
    "requests_per_minute": 10_000_000,
}


@dataclass(frozen=True)
class OrgView:
    id: int
    name: str
    display_name: str | None
    items_per_day: int | None
    open_tasks: int | None
    requests_per_minute: int | None

    @classmethod
    def of(cls, row: Any) -> OrgView:
        return cls(
            row.id,
            row.name,
            row.display_name,
            row.items_per_day,
            row.open_tasks,
            row.requests_per_minute,
        )


def check_org_name(name: str) -> str:
    if not _ORG.match(name):
        raise errors.ValidationFailed(
            f"org: {name!r} is not an org name: lowercase letters, digits, - and _, "
            "at most 64, starting with a letter or digit",
            field="org",
        )
    return name


def _limits(values: dict[str, int | None]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for name, value in values.items():
        if name not in LIMITS:
            raise errors.ValidationFailed(f"{name}: not an org limit", field=name)
        if value is not None and not 0 <= value <= LIMITS[name]:
            raise errors.ValidationFailed(
                f"{name}: {value} is out of range: between 0 and {LIMITS[name]}", field=name
            )
        out[name] = value
    return out


def add_org(
    ctx: Context,
    name: str,
    *,
    display_name: str | None = None,
    actor: str = "cli",
    **limits: int | None,
) -> OrgView:
    """Create an org; ValidationFailed when the name is taken or a limit is out of range."""
    check_org_name(name)
    values = _limits(limits)
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        if orgs.read_org(session, name) is not None:
            raise errors.ValidationFailed(f"org: an org {name!r} already exists", field="org")
        org_id = orgs.create_org(
            session, {"name": name, "display_name": display_name, "created_at": now, **values}
        )
        audit.append_system_event(
            session, audit_rules.EventKind.ORG_ADDED, actor, {"org": name, **values}, now
        )
        return OrgView.of(orgs.read_org_by_id(session, org_id))


def set_limits(
    ctx: Context, name: str, limits: dict[str, int | None], *, actor: str = "cli"
) -> OrgView:
    """Change an org's limits (None: back to the settings' default)."""
    values = _limits(limits)
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        row = orgs.read_org(session, name)
        if row is None:
            raise errors.NotFound(f"no org named {name!r}", field="org")
        orgs.update_org(session, row.id, values)
        audit.append_system_event(
            session, audit_rules.EventKind.ORG_CHANGED, actor, {"org": name, **values}, now
        )
        return OrgView.of(orgs.read_org_by_id(session, row.id))


def list_orgs(ctx: Context) -> list[OrgView]:
    with ctx.sessions() as session:
        return [OrgView.of(row) for row in orgs.list_orgs(session)]


def org_id(ctx: Context, name: str) -> int:
    """The id of org `name`, or NotFound naming the field `org`."""
    check_org_name(name)
    with ctx.sessions() as session:
        row = orgs.read_org(session, name)
    if row is None:
        raise errors.NotFound(
            f"no org named {name!r}; add it with `signoff orgs add {name}`", field="org"
        )
    return int(row.id)


def org_names(ctx: Context) -> dict[int, str]:
    with ctx.sessions() as session:
        return {row.id: row.name for row in orgs.list_orgs(session)}


def default_org_id(session: Any) -> int:
    """The org that owns what is made without naming one (the migration's `default`)."""
    row = orgs.read_org(session, orgs.DEFAULT_ORG)
    if row is None:
        raise errors.ConfigError("the default org is missing; run `signoff db upgrade`")
    return int(row.id)


def check_intake(session: Any, ctx: Context, workflow_id: int, count: int, now: datetime) -> None:
    """QuotaExceeded when `count` more items would take the workflow's org over a limit.

    Runs inside the intake transaction, so what it counts is what the insert sees.
    """
    limits = ctx.settings.limits
    org = orgs.read_org_of_workflow(session, workflow_id)
    per_day = org.items_per_day if org.items_per_day is not None else limits.items_per_day
    open_tasks = org.open_tasks if org.open_tasks is not None else limits.open_tasks
    if not per_day and not open_tasks:
        return
    workflow_ids = orgs.list_workflow_ids(session, org.id)
    if per_day:
        received = orgs.count_received_on(session, workflow_ids, now.date().isoformat())
        if received + count > per_day:
            tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time())
            wait = (tomorrow - now.replace(tzinfo=None)).total_seconds()
            raise errors.QuotaExceeded(
                f"org {org.name!r} may submit {per_day} items per day and has submitted "
                f"{received} today; {count} more would exceed it",
                field="items_per_day",
                retry_after=max(1, int(wait)),
            )
    if open_tasks:
        waiting = orgs.count_open_tasks(session, workflow_ids)
        if waiting >= open_tasks:
            raise errors.QuotaExceeded(
                f"org {org.name!r} has {waiting} review tasks waiting, its limit is "
                f"{open_tasks}; decide some first",
                field="open_tasks",
                retry_after=60,
            )
