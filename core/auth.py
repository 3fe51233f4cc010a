"""Users, password hashing (argon2) and the role rules that both the CLI and the UI obey."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import select

from core import audit
from core.errors import InvalidInput, PermissionDenied
from core.store import Store, User, Work
from core.words import ROLES

_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Checking a hash of a throwaway password costs the same time as a real check, so an
    # unknown username cannot be told from a wrong password by timing.
    return _hasher.hash("modelbridge-no-such-user")


# Pages each role may open. The UI builds its navigation from this, and the page guard refuses
# anything else, so a link to another role's page does not work either.
PAGES_BY_ROLE: dict[str, tuple[str, ...]] = {
    "manager": ("overview", "kpi", "traffic", "models"),
    "domain_expert": ("overview", "explain"),
    "product_owner": ("overview", "approvals", "kpi", "explain", "models", "audit"),
    "ml_engineer": ("overview", "kpi", "traffic", "drift", "explain", "data_quality", "models"),
    "admin": (
        "overview",
        "approvals",
        "kpi",
        "traffic",
        "drift",
        "explain",
        "data_quality",
        "models",
        "audit",
    ),
}

# Actions that change something, and who may take them. Core functions check these, so the
# CLI and the UI obey the same rules.
ACTION_ROLES: dict[str, tuple[str, ...]] = {
    # Pipelines may register without signing in (recorded as --created-by); a signed-in
    # registration is recorded under the user's name, and only engineers register.
    "register_version": ("ml_engineer", "admin"),
    "edit_model_settings": ("ml_engineer", "admin"),
    # Gates and required sign-offs decide what may reach production: the approvers own them,
    # so an ML engineer cannot loosen the checks on their own candidate.
    "edit_approval_policy": ("product_owner", "admin"),
    "acknowledge_alert": ("ml_engineer", "product_owner", "admin"),
    "edit_business_case": ("product_owner", "ml_engineer", "admin"),
}

ROLE_LABELS = {
    "manager": "Manager",
    "domain_expert": "Domain expert",
    "product_owner": "Product owner",
    "ml_engineer": "ML engineer",
    "admin": "Administrator",
}


@dataclass(frozen=True)
class Identity:
    """A signed-in user: who and in which role."""

    username: str
    role: str


def name_key(name: str) -> str:
    """A person's name as compared: 'OWNER', 'Owner' and 'owner' are one person."""
    return unicodedata.normalize("NFKC", name.strip()).casefold()


def same_person(a: str | None, b: str | None) -> bool:
    """Whether two names (a username, a --created-by) name the same person, ignoring case."""
    return a is not None and b is not None and name_key(a) == name_key(b)


def _find_user(w: Work, username: str) -> User | None:
    key = name_key(username)
    return next(
        (u for u in w.session.exec(select(User)).all() if name_key(u.username) == key), None
    )


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _hasher.hash(password)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; use one of {', '.join(ROLES)}")


def add_user(store: Store, *, username: str, role: str, password: str, by: str = "cli") -> Identity:
    """Create a user, or reset the role and password of an existing one (audited)."""
    _check_role(role)
    username = username.strip()
    if (
        not username
        or len(username) > 64
        or not username.replace("_", "").replace(".", "").replace("-", "").isalnum()
    ):
        raise InvalidInput("usernames are 1-64 letters, digits, '.', '_' or '-'")
    if len(password) < 4:
        raise InvalidInput("the password is too short (at least 4 characters)")
    store.open()
    with store.write() as w:
        found = _find_user(w, username)
        if found is not None and found.username != username:
            raise InvalidInput(
                f"a user {found.username!r} exists already; names are unique regardless of case"
            )
        before = {"role": found.role} if found else {}
        if found is None:
            w.session.add(User(username=username, role=role, password_hash=hash_password(password)))
        else:
            found.role = role
            found.password_hash = hash_password(password)
            w.session.add(found)
        audit.record(
            w,
            actor=by,
            action="user_updated" if found else "user_added",
            before=before,
            after={"username": username, "role": role},
        )
    return Identity(username, role)


def authenticate(store: Store, *, username: str, password: str) -> Identity | None:
    """The identity when the password matches, else None (same cost either way)."""
    with store.read() as r:
        found = _find_user(r, username)
    stored = found.password_hash if found else _dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if found is None:
        return None
    return Identity(found.username, found.role)


def list_users(w: Work) -> list[User]:
    """All users by name."""
    return list(w.session.exec(select(User).order_by(User.username)).all())


def pages_for(role: str) -> tuple[str, ...]:
    """Page keys a role may open."""
    return PAGES_BY_ROLE.get(role, ())


def require_page(identity: Identity | None, page: str) -> Identity:
    """Refuse a page that the identity's role may not open."""
    if identity is None:
        raise PermissionDenied("sign in first")
    if page not in pages_for(identity.role):
        raise PermissionDenied(
            f"the {ROLE_LABELS.get(identity.role, identity.role)} role cannot open this page"
        )
    return identity


def may(identity: Identity, action: str) -> bool:
    """Whether the identity's role allows ACTION."""
    return identity.role in ACTION_ROLES.get(action, ())


def require_action(identity: Identity, action: str) -> None:
    """Refuse ACTION unless the identity's role allows it."""
    if not may(identity, action):
        roles = " or ".join(ROLE_LABELS.get(r, r) for r in ACTION_ROLES.get(action, ()))
        raise PermissionDenied(
            f"{identity.username} ({ROLE_LABELS.get(identity.role, identity.role)}) may not "
            f"{action.replace('_', ' ')}; that needs {roles or 'a role nobody has'}"
        )


def login(store: Store, *, username: str, password: str) -> Identity:
    """The identity for a username and password, or PermissionDenied (one message for both)."""
    identity = authenticate(store.open(), username=username, password=password)
    if identity is None:
        raise PermissionDenied("unknown user or wrong password")
    return identity
