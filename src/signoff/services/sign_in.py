"""Signing in to the web UI: throttled per account and address, then a server-side session.

Every attempt is counted, in one atomic statement, before its password is checked, so
parallel attempts cannot outrun the limit. Two counters apply:

- per (account, source address): a few failures, then that address waits out the window
  for that account; other addresses can still sign in to it, so failing on someone's
  account from elsewhere does not lock them out;
- per source address, across accounts: a looser limit for one address trying many.

A successful sign-in clears its (account, address) counter and gives back its
address-wide count, so the counters track failures.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from argon2.exceptions import InvalidHashError, VerificationError

from signoff.domain import errors
from signoff.domain.states import Role
from signoff.services import users as user_service
from signoff.services.context import Context
from signoff.storage import engine, users

LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS = 5
MAX_FAILURES_PER_ADDRESS = 50

# Verified against when the account is unknown, inactive or has no password, so such an
# attempt costs the same argon2 work as a real one and its timing does not tell. Its
# parameters are the default hasher's (a test keeps them in step).
DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$HbTpnSKfTUkokK5PihfODA$S7vDxjb/Y454Krmh9YV7xlVRGE6g4TjCm4k+UKAZRvE"


def sign_in(
    ctx: Context, email: str, password: str, remote: str | None
) -> tuple[user_service.Principal, str]:
    """Check the password (throttled) and start a session: the principal and session token."""
    email = email.strip().lower()
    address = (remote or "unknown")[:64]
    account_key = f"account:{email}|address:{address}"
    address_key = f"address:{address}"
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        on_account = users.bump_login_throttle(session, account_key, now, now - LOGIN_WINDOW)
        on_address = users.bump_login_throttle(session, address_key, now, now - LOGIN_WINDOW)
    if on_account > MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS or on_address > MAX_FAILURES_PER_ADDRESS:
        _record(ctx, email, address, False)
        raise errors.Unauthorized(
            "too many failed sign-in attempts; try again in 15 minutes", throttled=True
        )
    with ctx.sessions() as session:
        user = users.read_user_by_email(session, email)
    ok = _verify(user, password)
    _record(ctx, email, address, ok, forget=account_key if ok else None, refund=address_key)
    if not ok or user is None:
        raise errors.Unauthorized("wrong email or password")
    token = user_service.start_session(ctx, user.id)
    principal = user_service.Principal(user.id, user.email, Role(user.role), user.workflows)
    return principal, token


def _verify(user: Any, password: str) -> bool:
    usable = user is not None and user.password_hash and user.active
    try:
        if not usable:
            user_service._hasher.verify(DUMMY_HASH, password)
            return False
        return bool(user_service._hasher.verify(user.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def _record(
    ctx: Context,
    email: str,
    address: str,
    ok: bool,
    *,
    forget: str | None = None,
    refund: str | None = None,
) -> None:
    with engine.transaction(ctx.sessions) as session:
        users.create_login_attempt(
            session,
            {"email": email, "remote": address, "success": ok, "attempted_at": ctx.clock.now()},
        )
        if ok and forget is not None:
            users.forget_login_throttle(session, forget)
        if ok and refund is not None:
            users.refund_login_throttle(session, refund)
