"""Reviewer groups: create them, add and remove members (users with optional skills)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from signoff.domain import audit as audit_rules
from signoff.domain import errors
from signoff.services import orgs as org_service
from signoff.services import users as user_service
from signoff.services.context import Context
from signoff.storage import audit, engine, groups, users

_GROUP = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SKILL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$")
#: Most members one command or request adds, and most skills one member has.
MAX_MEMBERS = 500
MAX_SKILLS = 50


@dataclass(frozen=True)
class Member:
    email: str
    skills: list[str]


@dataclass(frozen=True)
class GroupView:
    name: str
    description: str | None
    members: list[Member] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "members": [{"email": m.email, "skills": m.skills} for m in self.members],
        }


def check_group_name(name: str) -> str:
    if not _GROUP.match(name):
        raise errors.ValidationFailed(
            f"name: {name!r} is not a group name: lowercase letters, digits, - and _",
            field="name",
        )
    return name


def _skills(email: str, skills: Sequence[str]) -> list[str]:
    if len(skills) > MAX_SKILLS:
        raise errors.ValidationFailed(f"skills: at most {MAX_SKILLS} per member", field="skills")
    for skill in skills:
        if not isinstance(skill, str) or not _SKILL.match(skill):
            raise errors.ValidationFailed(
                f"skills: {skill!r} (of {email}) is not a skill name", field="skills"
            )
    return sorted(set(skills))


def add_members(
    ctx: Context,
    name: str,
    emails: Sequence[str],
    skills: Mapping[str, Sequence[str]] | None = None,
    *,
    description: str | None = None,
    actor: str = "cli",
    org_id: int | None = None,
    caller_org: int | None = None,
) -> GroupView:
    """Create group `name` if new and add these users (skills replace a member's old ones).

    UserNotFound names the first email with no user; nothing is changed then. A new group
    belongs to `org_id` (else the caller's org, else the default org); its members are
    users of that org or of the platform. `caller_org` confines a caller to its org.
    """
    check_group_name(name)
    skills = dict(skills or {})
    wanted = list(dict.fromkeys(e.strip().lower() for e in [*emails, *skills]))
    if len(wanted) > MAX_MEMBERS:
        raise errors.ValidationFailed(f"members: at most {MAX_MEMBERS} at once", field="members")
    given = {e.strip().lower(): _skills(e, s) for e, s in skills.items()}
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        group = groups.read_group(session, name)
        if group is not None and caller_org is not None and group.org_id != caller_org:
            raise errors.ValidationFailed(
                f"name: {name!r} is taken: group names are unique across orgs", field="name"
            )
        owner = group.org_id if group is not None else org_id
        if owner is None:
            owner = caller_org if caller_org is not None else org_service.default_org_id(session)
        found = []
        for email in wanted:
            user = users.read_user_by_email(session, email)
            if user is None or not user_service.visible(user.org_id, caller_org):
                raise errors.UserNotFound(f"no user {email}: add it with `signoff users add`")
            if user.org_id is not None and user.org_id != owner:
                raise errors.ValidationFailed(
                    f"members: {email} works in another org than group {name!r}",
                    field="members",
                )
            found.append(user)
        group_id = (
            group.id if group else groups.create_group(session, name, description, now, owner)
        )
        added, updated = [], []
        for user in found:
            member = groups.read_member(session, group_id, user.id)
            if member is None:
                groups.create_member(session, group_id, user.id, given.get(user.email, []), now)
                added.append(user.email)
            elif user.email in given:
                groups.update_member_skills(session, group_id, user.id, given[user.email])
                updated.append(user.email)
        audit.append_system_event(
            session,
            audit_rules.EventKind.GROUP_CHANGED,
            actor,
            {"group": name, "created": group is None, "added": added, "skills_set": updated},
            now,
        )
    return get_group(ctx, name)


def remove_member(
    ctx: Context, name: str, email: str, *, actor: str = "cli", caller_org: int | None = None
) -> GroupView:
    """Take `email` out of group `name`; NotFound when either is unknown or not a member."""
    email = email.strip().lower()
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        group = groups.read_group(session, name)
        if group is None or not user_service.visible(group.org_id, caller_org):
            raise errors.NotFound(f"no group {name!r}")
        user = users.read_user_by_email(session, email)
        if user is None:
            raise errors.UserNotFound(f"no user {email}")
        if not groups.delete_member(session, group.id, user.id):
            raise errors.NotFound(f"{email} is not a member of {name}")
        audit.append_system_event(
            session,
            audit_rules.EventKind.GROUP_CHANGED,
            actor,
            {"group": name, "removed": [email]},
            now,
        )
    return get_group(ctx, name)


def get_group(ctx: Context, name: str, *, caller_org: int | None = None) -> GroupView:
    with ctx.sessions() as session:
        group = groups.read_group(session, name)
        if group is None or not user_service.visible(group.org_id, caller_org):
            raise errors.NotFound(f"no group {name!r}")
        members = groups.list_members(session, name, active_only=False)
    return GroupView(
        name=group.name,
        description=group.description,
        members=[Member(m.email, list(m.skills or [])) for m in members],
    )


def list_groups(ctx: Context, *, caller_org: int | None = None) -> list[GroupView]:
    with ctx.sessions() as session:
        names = [
            g.name
            for g in groups.list_groups(session)
            if user_service.visible(g.org_id, caller_org)
        ]
    return [get_group(ctx, name) for name in names]
