"""Users, roles, API keys and their scopes, passwords (argon2), sessions, and who is asking."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from signoff.domain import access, errors, passwords, spec_base
from signoff.domain import audit as audit_rules
from signoff.domain import workflow as wf
from signoff.domain.access import Scope
from signoff.domain.states import Role
from signoff.services.context import Context
from signoff.storage import audit, engine, orgs, users
from signoff.storage import workflows as workflow_rows

KEY_PREFIX = "sk_"
_hasher = PasswordHasher()
# API keys are long random strings, so a cheap argon2 profile is enough and keeps auth fast.
_key_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

#: `last_used_at` is written at most this often per key, not on every request.
KEY_TOUCH_INTERVAL = timedelta(minutes=1)
#: A web session ends this long after sign-in (the cookie expires at the same time).
SESSION_LIFETIME = timedelta(hours=12)
#: The longest an API key may be made to last (`--expires-in`); none given: no expiry.
MAX_KEY_LIFETIME = timedelta(days=3650)


def parse_key_lifetime(text: str) -> timedelta:
    """`90d`, `12h`, `2w` as a key lifetime between one minute and ten years; else ValidationFailed."""
    try:
        lifetime = spec_base.parse_duration(text)
    except ValueError as exc:
        raise errors.ValidationFailed(f"expires_in: {exc}", field="expires_in") from None
    if not timedelta(minutes=1) <= lifetime <= MAX_KEY_LIFETIME:
        raise errors.ValidationFailed(
            f"expires_in: {text!r} is out of range: between 1m and 3650d", field="expires_in"
        )
    return lifetime


@dataclass(frozen=True)
class Principal:
    """Who is making a request: a user (by key or session) or a service key without a user.

    A service key carries `scopes`; a user (and a user's personal key) acts with its role.
    """

    user_id: int | None
    email: str | None
    role: Role
    workflows: list[str] | None = None
    key_id: int | None = None
    scopes: frozenset[Scope] | None = None
    #: The org the caller works in; None: the platform's (every org).
    org_id: int | None = None
    #: The workflows of that org when the principal was made (None for the platform).
    org_workflows: frozenset[str] | None = None
    #: Requests per minute this key may make (None: no limit, or not a key).
    rate_limit: int | None = None

    @property
    def actor(self) -> str:
        if self.email:
            return f"user:{self.email}"
        return f"key:{self.key_id}"

    @property
    def is_platform(self) -> bool:
        return self.org_id is None

    def may_access(self, workflow: str) -> bool:
        """Whether the caller may see this workflow (its org's, and within any restriction)."""
        if self.org_workflows is not None and workflow not in self.org_workflows:
            return False
        return self.workflows is None or workflow in self.workflows

    def allows(self, needed: Scope, roles: Collection[Role]) -> bool:
        """Whether a service key's scopes cover `needed`, or a user's role is one of `roles`."""
        if self.scopes is not None:
            return access.grants(self.scopes, needed)
        return self.role in roles

    def describe(self) -> str:
        if self.scopes is not None:
            return "this key has scope " + ", ".join(sorted(s.value for s in self.scopes))
        return f"you are {self.role.value}"


def check_password_rules(password: str, email: str | None = None) -> None:
    """ValidationFailed when `password` breaks the length or common-password rules."""
    problem = passwords.problem(password, email)
    if problem is not None:
        raise errors.ValidationFailed(problem, field="password")


def add_user(
    ctx: Context,
    email: str,
    role: Role,
    *,
    password: str | None = None,
    display_name: str | None = None,
    workflows: list[str] | None = None,
    actor: str = "cli",
    org_id: int | None = None,
) -> int:
    """Add a user; `org_id` puts them in that org (None: a platform user, across orgs)."""
    email = email.strip().lower()
    if "@" not in email:
        raise errors.ValidationFailed("email: not an email address", field="email")
    if password is not None:
        check_password_rules(password, email)
    for workflow in workflows or []:
        if not wf.is_workflow_name(workflow):
            raise errors.ValidationFailed(
                f"workflows: {workflow!r} is not a workflow name: use {wf.NAME_RULE}",
                field="workflows",
            )
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        if users.read_user_by_email(session, email) is not None:
            raise errors.ValidationFailed(f"email: a user {email} already exists", field="email")
        user_id = users.create_user(
            session,
            {
                "email": email,
                "role": role.value,
                "display_name": display_name,
                "password_hash": _hasher.hash(password) if password else None,
                "workflows": workflows,
                "active": True,
                "created_at": now,
                "org_id": org_id,
            },
        )
        audit.append_system_event(
            session,
            audit_rules.EventKind.USER_ADDED,
            actor,
            {"email": email, "role": role.value, "org_id": org_id},
            now,
        )
    return user_id


def set_password(ctx: Context, email: str, password: str, actor: str = "cli") -> None:
    """Set a user's password and end every session they have open."""
    check_password_rules(password, email)
    password_hash = _hasher.hash(password)
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        user = users.read_user_by_email(session, email.strip().lower())
        if user is None:
            raise errors.UserNotFound(f"no user {email}")
        users.update_user(session, user.id, {"password_hash": password_hash})
        users.revoke_user_sessions(session, user.id, now)
        audit.append_system_event(
            session, audit_rules.EventKind.PASSWORD_SET, actor, {"email": user.email}, now
        )


def set_role(
    ctx: Context,
    user_id: int,
    role: Role,
    active: bool,
    actor: str,
    *,
    acting_user_id: int | None,
    caller_org: int | None = None,
) -> None:
    """Change a user's role or active flag; a change ends the user's open sessions.

    `acting_user_id` is the signed-in user making the change (None for the CLI): nobody
    can demote or deactivate themselves, so the admin doing it always stays one.
    """
    if user_id == acting_user_id and (role is not Role.ADMIN or not active):
        raise errors.Forbidden(
            "you cannot demote or deactivate yourself; another admin must do it", field="role"
        )
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        user = users.read_user(session, user_id)
        if user is None or not visible(user.org_id, caller_org):
            raise errors.UserNotFound()
        users.update_user(session, user_id, {"role": role.value, "active": active})
        if user.role != role.value or bool(user.active) != active:
            users.revoke_user_sessions(session, user_id, now)
        audit.append_system_event(
            session,
            audit_rules.EventKind.USER_CHANGED,
            actor,
            {"email": user.email, "role": role.value, "active": active},
            now,
        )


def visible(org_id: int | None, caller_org: int | None) -> bool:
    """Whether a row of `org_id` is visible to a caller confined to `caller_org` (None: all)."""
    return caller_org is None or org_id == caller_org


def list_users(ctx: Context, *, caller_org: int | None = None) -> list[Any]:
    with ctx.sessions() as session:
        return [u for u in users.list_users(session) if visible(u.org_id, caller_org)]


def create_key(
    ctx: Context,
    name: str,
    email: str | None,
    actor: str = "cli",
    *,
    scopes: Collection[Scope] | None = None,
    workflows: list[str] | None = None,
    expires_in: timedelta | None = None,
    org_id: int | None = None,
    caller_org: int | None = None,
) -> tuple[int, str]:
    """Create an API key; the secret is returned once and only its hash is stored.

    A service key (no `email`) gets `scopes` (default: items only); a personal key acts
    with its user's role. `workflows` restricts either kind to the workflows named;
    `expires_in` makes the key stop working that long from now. A service key works in
    `org_id` (else the caller's org; None for both: a platform key); a personal key in
    its user's org.
    """
    if email and scopes:
        raise errors.ValidationFailed(
            "scope: a personal key acts with its user's role; scopes are for service keys",
            field="scopes",
        )
    chosen = None if email else sorted(s.value for s in (scopes or access.DEFAULT_SCOPES))
    now = ctx.clock.now()
    expires_at = now + expires_in if expires_in is not None else None
    if caller_org is not None and org_id not in (None, caller_org):
        raise errors.Forbidden("org: a key of your org works in your org only", field="org")
    key_org = org_id if org_id is not None else caller_org
    with engine.transaction(ctx.sessions) as session:
        user_id = None
        if email:
            user = users.read_user_by_email(session, email.strip().lower())
            if user is None or not visible(user.org_id, caller_org):
                raise errors.UserNotFound(f"no user {email}; add it with `signoff users add`")
            user_id = user.id
            key_org = user.org_id
        for workflow in workflows or []:
            row = workflow_rows.read_workflow(session, workflow)
            if row is None or not visible(row.org_id, key_org):
                raise errors.WorkflowNotFound(
                    f"no workflow named {workflow!r}; apply it first", workflow=workflow
                )
        key_id, token = _insert_key(
            session,
            {
                "name": name,
                "user_id": user_id,
                "created_at": now,
                "expires_at": expires_at,
                "scopes": chosen,
                "workflows": sorted(set(workflows)) if workflows else None,
                "org_id": key_org,
            },
        )
        audit.append_system_event(
            session,
            audit_rules.EventKind.API_KEY_CREATED,
            actor,
            {
                "name": name,
                "key_id": key_id,
                "user": email,
                "org_id": key_org,
                "scopes": chosen,
                "workflows": workflows or None,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
            now,
        )
    return key_id, token


def _insert_key(session: Any, values: dict[str, Any]) -> tuple[int, str]:
    """Store a new key made of a random prefix and secret; the token, shown once, and its id."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key_id = users.create_api_key(
        session, {**values, "prefix": prefix, "key_hash": _key_hasher.hash(secret)}
    )
    return key_id, f"{KEY_PREFIX}{prefix}_{secret}"


def rotate_key(
    ctx: Context,
    key_id: int,
    actor: str = "cli",
    *,
    expires_in: timedelta | None = None,
    overlap: timedelta | None = None,
) -> tuple[int, str]:
    """Replace a key with a new one of the same name, user, scopes and workflows.

    The old key stops at once, or after `overlap` (so callers can switch over) if that
    comes before its own expiry. The new key lasts `expires_in`, or as long as the old
    key was made to last. Returns the new key's id and its token, shown once.
    """
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        old = users.read_api_key(session, key_id)
        if old is None or old.revoked_at is not None:
            raise errors.NotFound(f"no live API key with id {key_id}", field="key_id")
        if old.expires_at is not None and old.expires_at <= now:
            raise errors.ValidationFailed(
                f"key {key_id} has expired; create a new one with `signoff keys create`",
                field="key_id",
            )
        if expires_in is None and old.expires_at is not None:
            expires_in = old.expires_at - old.created_at
        expires_at = now + expires_in if expires_in is not None else None
        new_id, token = _insert_key(
            session,
            {
                "name": old.name,
                "user_id": old.user_id,
                "created_at": now,
                "expires_at": expires_at,
                "scopes": old.scopes,
                "workflows": old.workflows,
                "org_id": old.org_id,
                "rotated_from": old.id,
            },
        )
        if overlap is None:
            users.update_api_key(session, key_id, {"revoked_at": now})
            old_until = now
        else:
            old_until = now + overlap
            if old.expires_at is None or old_until < old.expires_at:
                users.update_api_key(session, key_id, {"expires_at": old_until})
            else:
                old_until = old.expires_at
        audit.append_system_event(
            session,
            audit_rules.EventKind.API_KEY_ROTATED,
            actor,
            {
                "key_id": key_id,
                "new_key_id": new_id,
                "name": old.name,
                "old_key_until": old_until.isoformat(),
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
            now,
        )
    return new_id, token


def revoke_key(ctx: Context, key_id: int, actor: str, *, caller_org: int | None = None) -> None:
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        key = users.read_api_key(session, key_id)
        if key is None or not visible(key.org_id, caller_org):
            raise errors.NotFound(f"no API key with id {key_id}", field="key_id")
        users.update_api_key(session, key_id, {"revoked_at": now})
        audit.append_system_event(
            session, audit_rules.EventKind.API_KEY_REVOKED, actor, {"key_id": key_id}, now
        )


def list_keys(ctx: Context, *, caller_org: int | None = None) -> list[Any]:
    """Every key (of the caller's org) with its user's email and role (None for service keys)."""
    with ctx.sessions() as session:
        return [k for k in users.list_api_keys(session) if visible(k.org_id, caller_org)]


def key_powers(key: Any) -> str:
    """What a key (a `list_keys` row) may do, as listings show it."""
    if key.user_id is not None:
        return f"role {key.role}"
    scopes = key.scopes if key.scopes is not None else sorted(access.LEGACY_SCOPES)
    return "scope " + ", ".join(sorted(scopes))


def authenticate_key(ctx: Context, token: str) -> Principal:
    """The principal behind an API key, or Unauthorized."""
    if not token.startswith(KEY_PREFIX) or token.count("_") < 2:
        raise errors.Unauthorized("invalid API key")
    prefix, _, secret = token[len(KEY_PREFIX) :].partition("_")
    with engine.reading(ctx.sessions) as session:
        key = users.read_api_key_with_user(session, prefix)
        tenancy = _tenancy(session, key.org_id) if key is not None else _PLATFORM
    if key is None or key.revoked_at is not None:
        raise errors.Unauthorized("invalid or revoked API key")
    _verify_key_secret(ctx, key.key_hash, secret)
    if key.expires_at is not None and key.expires_at <= ctx.clock.now():
        # Said only after the secret checks out, so the answer does not confirm a prefix.
        raise errors.Unauthorized("this API key has expired; rotate or replace it")
    if key.user_id is not None and not key.user_active:
        raise errors.Unauthorized("this user is deactivated")
    _note_key_use(ctx, key)
    if key.user_id is None:
        # A service key acts within its scopes; within them it may do what an admin may.
        scopes = access.LEGACY_SCOPES if key.scopes is None else access.parse_scopes(key.scopes)
        return Principal(None, None, Role.ADMIN, key.workflows, key.id, scopes, *tenancy)
    allowed = access.narrow_workflows(key.user_workflows, key.workflows)
    return Principal(
        key.user_id, key.user_email, Role(key.user_role), allowed, key.id, None, *tenancy
    )


#: Verified key secrets a process remembers (a digest each) before it starts over.
VERIFIED_KEYS_MAX = 10_000


def _verify_key_secret(ctx: Context, key_hash: str, secret: str) -> None:
    """Unauthorized unless `secret` matches the stored hash.

    The slow hash runs once per key and process: after that, a SHA-256 digest of the
    secret that passed is compared against this key hash's (a rotated key has a new
    hash; revocation and expiry are read from the database on every request).
    """
    digest = hashlib.sha256(secret.encode()).digest()
    with ctx.caches.lock:
        known = ctx.caches.verified_keys.get(key_hash)
    if known is not None and hmac.compare_digest(known, digest):
        return
    try:
        _key_hasher.verify(key_hash, secret)
    except (VerificationError, InvalidHashError):
        raise errors.Unauthorized("invalid API key") from None
    with ctx.caches.lock:
        if len(ctx.caches.verified_keys) >= VERIFIED_KEYS_MAX:
            ctx.caches.verified_keys.clear()
        ctx.caches.verified_keys[key_hash] = digest


_PLATFORM: tuple[None, None, None] = (None, None, None)


def _tenancy(session: Any, org_id: int | None) -> tuple[Any, ...]:
    """A principal's org fields: its org, that org's workflows and its request limit."""
    if org_id is None:
        return _PLATFORM
    org = orgs.read_org_by_id(session, org_id)
    names = frozenset(orgs.list_workflow_names(session, org_id))
    return org_id, names, org.requests_per_minute if org is not None else None


def _note_key_use(ctx: Context, key: Any) -> None:
    """Record when a key was last used, writing at most once per KEY_TOUCH_INTERVAL."""
    now = ctx.clock.now()
    stale = now - KEY_TOUCH_INTERVAL
    if key.last_used_at is not None and key.last_used_at >= stale:
        return
    with engine.transaction(ctx.sessions) as session:
        users.touch_api_key(session, key.id, now, stale)


def principal_for_user(ctx: Context, user_id: int) -> Principal | None:
    """The principal of an active user by id (for services and tests, not for sessions)."""
    with ctx.sessions() as session:
        user = users.read_user(session, user_id)
        if user is None or not user.active:
            return None
        tenancy = _tenancy(session, user.org_id)
    return Principal(user.id, user.email, Role(user.role), user.workflows, None, None, *tenancy)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(ctx: Context, user_id: int) -> str:
    """A new server-side session for a signed-in user; the token goes into the cookie."""
    token = secrets.token_urlsafe(32)
    with engine.transaction(ctx.sessions) as session:
        users.create_user_session(
            session,
            {"user_id": user_id, "token_hash": _token_hash(token), "created_at": ctx.clock.now()},
        )
    return token


def principal_for_session(ctx: Context, user_id: int, token: str) -> Principal | None:
    """The signed-in user, if the session is live (not ended, not expired, user active)."""
    since = ctx.clock.now() - SESSION_LIFETIME
    with ctx.sessions() as session:
        user = users.read_session_user(session, _token_hash(token), since)
        if user is None or user.id != user_id:
            return None
        tenancy = _tenancy(session, user.org_id)
    return Principal(user.id, user.email, Role(user.role), user.workflows, None, None, *tenancy)


def end_session(ctx: Context, token: str) -> None:
    """Sign out: the session's cookie no longer authenticates anywhere."""
    with engine.transaction(ctx.sessions) as session:
        users.revoke_user_session(session, _token_hash(token), ctx.clock.now())
