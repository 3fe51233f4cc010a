"""Users and signing in: argon2-hashed passwords, users managed by admins only, and sign-in
throttled per account and per client, every attempt audited.

The audit trail is the record of sign-ins, and the throttle reads it, so the rules hold across
browser sessions, dashboard replicas and the CLI alike: MAX_FAILURES failed sign-ins in a row
lock an account for LOCK_MINUTES after the last of them (an admin can unlock it sooner), and
CLIENT_FAILURES failures from one client within LOCK_MINUTES, whatever the accounts, shut that
client out for the rest of the period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import col, select

from core import audit
from core.auth import Identity, check_role, name_key, require_action
from core.errors import InvalidInput, PermissionDenied
from core.store import AuditEvent, Store, User, Work, retry_on_conflict, utcnow

MAX_NAME = 64
MAX_FAILURES = 5
CLIENT_FAILURES = 20
LOCK_MINUTES = 15
MIN_PASSWORD = 4
SIGN_IN_ACTIONS = ("sign_in", "sign_in_failed", "sign_in_refused", "user_unlocked")

_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Checking a hash of a throwaway password costs the same time as a real check, so an
    # unknown username cannot be told from a wrong password by timing.
    return _hasher.hash("modelbridge-no-such-user")


def list_users(w: Work) -> list[User]:
    """All users by name."""
    return list(w.session.exec(select(User).order_by(User.username)).all())


def _find_user(w: Work, username: str) -> User | None:
    key = name_key(username)
    return next((u for u in list_users(w) if name_key(u.username) == key), None)


def _checked(username: str, password: str) -> str:
    username = username.strip()
    if (
        not username
        or len(username) > MAX_NAME
        or not username.replace("_", "").replace(".", "").replace("-", "").isalnum()
    ):
        raise InvalidInput(f"usernames are 1-{MAX_NAME} letters, digits, '.', '_' or '-'")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password is too short (at least {MIN_PASSWORD} characters)")
    return username


def add_user(store: Store, *, username: str, role: str, password: str, by: Identity) -> Identity:
    """Create a user, or reset the role and password of an existing one (admins; audited)."""
    require_action(by, "manage_users")
    check_role(role)
    username = _checked(username, password)
    with store.open().write() as w:
        w.serialise("users")
        found = _find_user(w, username)
        if found is not None and found.username != username:
            raise InvalidInput(
                f"a user {found.username!r} exists already; names are unique regardless of case"
            )
        _save(w, found, username, role, password, actor=by.username, role_of_actor=by.role)
    return Identity(username, role)


def first_admin(store: Store, *, username: str, password: str) -> Identity:
    """The first admin of a store that has no users yet (`modelbridge init --admin`)."""
    username = _checked(username, password)
    with store.open().write() as w:
        w.serialise("users")
        if list_users(w):
            raise PermissionDenied(
                "this store has users already; an admin adds more with `modelbridge user add`"
            )
        _save(w, None, username, "admin", password, actor="init", role_of_actor="")
    return Identity(username, "admin")


def _save(
    w: Work,
    found: User | None,
    username: str,
    role: str,
    password: str,
    *,
    actor: str,
    role_of_actor: str,
) -> None:
    before = {"role": found.role} if found else {}
    user = found or User(username=username, role=role, password_hash="")
    user.role, user.password_hash = role, _hasher.hash(password)
    w.session.add(user)
    audit.record(
        w,
        actor=actor,
        role=role_of_actor,
        action="user_updated" if found else "user_added",
        before=before,
        after={"username": username, "role": role},
    )


def unlock_user(store: Store, *, username: str, by: Identity) -> None:
    """Lift a sign-in lockout before it ends by itself (admins; audited)."""
    require_action(by, "manage_users")
    with store.open().write() as w:
        found = _find_user(w, username)
        if found is None:
            raise InvalidInput(f"no user {username!r}")
        audit.record(
            w,
            actor=by.username,
            role=by.role,
            action="user_unlocked",
            after={"username": found.username},
        )


@dataclass(frozen=True)
class _Attempts:
    """What the recent sign-in events say about one account and one client."""

    failures_in_a_row: int
    last_failure: datetime | None
    client_failures: int


def _attempts(w: Work, *, key: str, client: str, now: datetime) -> _Attempts:
    since = now - timedelta(days=1)
    events = w.session.exec(
        select(AuditEvent)
        .where(col(AuditEvent.action).in_(SIGN_IN_ACTIONS), AuditEvent.occurred_at >= since)
        .order_by(col(AuditEvent.id))
    ).all()
    in_a_row, last, from_client = 0, None, 0
    recent = now - timedelta(minutes=LOCK_MINUTES)
    for event in events:
        subject = event.after_state.get("username", event.actor)
        if event.action == "sign_in_failed" and event.after_state.get("client") == client:
            from_client += _aware(event.occurred_at) >= recent
        if name_key(str(subject)) != key:
            continue
        if event.action == "sign_in_failed":
            in_a_row, last = in_a_row + 1, _aware(event.occurred_at)
        elif event.action in ("sign_in", "user_unlocked"):
            in_a_row, last = 0, None
    return _Attempts(in_a_row, last, from_client)


def _aware(stamp: datetime) -> datetime:
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=utcnow().tzinfo)


def _refusal(attempts: _Attempts, now: datetime) -> str | None:
    if attempts.client_failures >= CLIENT_FAILURES:
        return f"too many failed sign-ins from this client; try again in {LOCK_MINUTES} minutes"
    if attempts.failures_in_a_row >= MAX_FAILURES and attempts.last_failure is not None:
        until = attempts.last_failure + timedelta(minutes=LOCK_MINUTES)
        if now < until:
            return (
                f"this account is locked after {attempts.failures_in_a_row} failed sign-ins; "
                f"try again after {until:%H:%M} UTC or ask an admin to unlock it"
            )
    return None


def sign_in(store: Store, *, username: str, password: str, client: str) -> Identity:
    """The identity for a username and password, or PermissionDenied: one message for an
    unknown user and a wrong password, another for a locked account or client. Every attempt
    is audited with the CLIENT it came from."""
    name = username.strip()[:MAX_NAME]
    now = utcnow()
    with store.open().read() as r:
        refusal = _refusal(_attempts(r, key=name_key(name), client=client, now=now), now)
        found = _find_user(r, name)
    if refusal is not None:
        _record(store, "sign_in_refused", name, found, client)
        raise PermissionDenied(refusal)
    stored = found.password_hash if found else _dummy_hash()
    try:
        ok = _hasher.verify(stored, password) and found is not None
    except (VerificationError, InvalidHashError):
        ok = False
    _record(store, "sign_in" if ok else "sign_in_failed", name, found, client)
    if not ok or found is None:
        raise PermissionDenied("unknown user or wrong password")
    return Identity(found.username, found.role)


def _record(store: Store, action: str, name: str, found: User | None, client: str) -> None:
    def append() -> None:
        with store.write() as w:
            audit.record(
                w,
                actor=found.username if found else name,
                role=found.role if found else "",
                action=action,
                after={"username": found.username if found else name, "client": client[:200]},
            )

    retry_on_conflict(append)
