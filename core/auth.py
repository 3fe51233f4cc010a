"""Who may do what: identities, the pages and actions of each role, and how names compare.
Both the CLI and the UI obey these rules (core.users keeps the users themselves)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from core.errors import InvalidInput, PermissionDenied
from core.words import ROLES

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
    # Users are managed by admins only; an empty store's first admin comes from `init --admin`.
    "manage_users": ("admin",),
    # Store-wide rules, such as whether pickle model files (which run code) are accepted.
    "manage_store_settings": ("admin",),
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


def check_role(role: str) -> None:
    """Refuse a role that does not exist."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; use one of {', '.join(ROLES)}")


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
