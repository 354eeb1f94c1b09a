"""Users, roles, API keys and passwords (argon2), and who is asking."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from signoff.domain import errors
from signoff.domain.states import Role
from signoff.services.context import Context
from signoff.storage import audit, engine, users

KEY_PREFIX = "sk_"
_hasher = PasswordHasher()
# API keys are long random strings, so a cheap argon2 profile is enough and keeps auth fast.
_key_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_MAX_FAILURES = 5


@dataclass(frozen=True)
class Principal:
    """Who is making a request: a user (by key or session) or a service key without a user."""

    user_id: int | None
    email: str | None
    role: Role
    workflows: list[str] | None = None
    key_id: int | None = None

    @property
    def actor(self) -> str:
        if self.email:
            return f"user:{self.email}"
        return f"key:{self.key_id}"

    def may_access(self, workflow: str) -> bool:
        return self.workflows is None or workflow in self.workflows


def add_user(
    ctx: Context,
    email: str,
    role: Role,
    *,
    password: str | None = None,
    display_name: str | None = None,
    workflows: list[str] | None = None,
    actor: str = "cli",
) -> int:
    email = email.strip().lower()
    if "@" not in email:
        raise errors.ValidationFailed("email: not an email address", field="email")
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
            },
        )
        audit.append_system_event(
            session, "user_added", actor, {"email": email, "role": role.value}, now
        )
    return user_id


def set_password(ctx: Context, email: str, password: str, actor: str = "cli") -> None:
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        user = users.read_user_by_email(session, email.strip().lower())
        if user is None:
            raise errors.UserNotFound(f"no user {email}")
        users.update_user(session, user.id, {"password_hash": _hasher.hash(password)})
        audit.append_system_event(session, "password_set", actor, {"email": user.email}, now)


def set_role(ctx: Context, user_id: int, role: Role, active: bool, actor: str) -> None:
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        user = users.read_user(session, user_id)
        if user is None:
            raise errors.UserNotFound()
        users.update_user(session, user_id, {"role": role.value, "active": active})
        audit.append_system_event(
            session,
            "user_changed",
            actor,
            {"email": user.email, "role": role.value, "active": active},
            now,
        )


def list_users(ctx: Context) -> list[Any]:
    with ctx.sessions() as session:
        return users.list_users(session)


def create_key(ctx: Context, name: str, email: str | None, actor: str = "cli") -> tuple[int, str]:
    """Create an API key; the secret is returned once and only its hash is stored."""
    now = ctx.clock.now()
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = f"{KEY_PREFIX}{prefix}_{secret}"
    with engine.transaction(ctx.sessions) as session:
        user_id = None
        if email:
            user = users.read_user_by_email(session, email.strip().lower())
            if user is None:
                raise errors.UserNotFound(f"no user {email}; add it with `signoff users add`")
            user_id = user.id
        key_id = users.create_api_key(
            session,
            {
                "name": name,
                "user_id": user_id,
                "prefix": prefix,
                "key_hash": _key_hasher.hash(secret),
                "created_at": now,
            },
        )
        audit.append_system_event(
            session, "api_key_created", actor, {"name": name, "key_id": key_id, "user": email}, now
        )
    return key_id, token


def revoke_key(ctx: Context, key_id: int, actor: str) -> None:
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        users.update_api_key(session, key_id, {"revoked_at": now})
        audit.append_system_event(session, "api_key_revoked", actor, {"key_id": key_id}, now)


def list_keys(ctx: Context) -> list[Any]:
    with ctx.sessions() as session:
        return users.list_api_keys(session)


def authenticate_key(ctx: Context, token: str) -> Principal:
    """The principal behind an API key, or Unauthorized."""
    if not token.startswith(KEY_PREFIX) or token.count("_") < 2:
        raise errors.Unauthorized("invalid API key")
    prefix, _, secret = token[len(KEY_PREFIX) :].partition("_")
    with ctx.sessions() as session:
        key = users.read_api_key_by_prefix(session, prefix)
        user = users.read_user(session, key.user_id) if key is not None and key.user_id else None
    if key is None or key.revoked_at is not None:
        raise errors.Unauthorized("invalid or revoked API key")
    try:
        _key_hasher.verify(key.key_hash, secret)
    except (VerificationError, InvalidHashError):
        raise errors.Unauthorized("invalid API key") from None
    if user is None:
        # A key without a user is a service key: it submits items and manages workflows.
        return Principal(None, None, Role.ADMIN, None, key.id)
    if not user.active:
        raise errors.Unauthorized("this user is deactivated")
    return Principal(user.id, user.email, Role(user.role), user.workflows, key.id)


def principal_for_user(ctx: Context, user_id: int) -> Principal | None:
    with ctx.sessions() as session:
        user = users.read_user(session, user_id)
    if user is None or not user.active:
        return None
    return Principal(user.id, user.email, Role(user.role), user.workflows)


def check_password(ctx: Context, email: str, password: str, remote: str | None) -> Principal:
    """Sign-in: verify the password, throttle repeated failures, record every attempt."""
    email = email.strip().lower()
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        failures = users.count_failed_logins(session, email, now - LOGIN_WINDOW)
        if failures >= LOGIN_MAX_FAILURES:
            raise errors.Unauthorized(
                "too many failed sign-in attempts; try again in 15 minutes", throttled=True
            )
        user = users.read_user_by_email(session, email)
        ok = False
        if user is not None and user.password_hash and user.active:
            try:
                ok = _hasher.verify(user.password_hash, password)
            except (VerificationError, InvalidHashError):
                ok = False
        users.create_login_attempt(
            session, {"email": email, "remote": remote, "success": ok, "attempted_at": now}
        )
    if not ok or user is None:
        raise errors.Unauthorized("wrong email or password")
    return Principal(user.id, user.email, Role(user.role), user.workflows)
