"""Lifecycle rules: the stages, the actions that move a version between them, who may act.

Stages: registered → in_review → approved | rejected → production → archived; a rejected or
archived version may be put up for review again (fresh evidence, fresh sign-off). Every move is
an action in ACTIONS (from which stages, to which, by which roles); anything else is refused
with the reason. The rules live here, so the CLI and the UI obey the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.auth import ROLE_LABELS, Identity
from core.errors import InvalidInput, PermissionDenied
from core.store import Model, ModelVersion


@dataclass(frozen=True)
class Action:
    """A lifecycle move: the stages it starts from, the stage it ends in, who may make it."""

    name: str
    sources: tuple[str, ...]
    target: str
    roles: tuple[str, ...]


ACTIONS = {
    a.name: a
    for a in (
        Action(
            "request_review",
            ("registered", "rejected", "archived"),
            "in_review",
            ("ml_engineer", "product_owner", "admin"),
        ),
        Action("approve", ("in_review",), "approved", ("product_owner",)),
        Action("reject", ("in_review",), "rejected", ("product_owner",)),
        Action("request_changes", ("in_review",), "registered", ("product_owner",)),
        Action("promote", ("approved",), "production", ("product_owner",)),
        Action("rollback", ("production",), "archived", ("product_owner",)),
    )
}
DECISIONS = ("approve", "reject", "request_changes")
TRANSITIONS = {(s, a.target) for a in ACTIONS.values() for s in a.sources} | {
    ("archived", "production"),  # only through rollback, which restores the previous version
}


def _settings(model: Model) -> dict[str, Any]:
    return model.settings.get("workflow", {})


def required_signoffs(model: Model) -> dict[str, int]:
    """Sign-offs needed per role before a version is approved (default: one product owner)."""
    return {
        k: int(v)
        for k, v in _settings(model).get("required_signoffs", {"product_owner": 1}).items()
    }


def _roles(model: Model, action: Action) -> tuple[str, ...]:
    roles = set(action.roles)
    if action.name in DECISIONS:
        roles |= set(required_signoffs(model))
    if action.name != "request_review" and _settings(model).get("admins_may_sign"):
        roles.add("admin")
    return tuple(sorted(roles))


def check(model: Model, version: ModelVersion, action_name: str, by: Identity) -> Action:
    """Refuse an action that the stage or the user's role does not allow; say why."""
    action = ACTIONS[action_name]
    if version.stage not in action.sources:
        moves = sorted(
            a.name.replace("_", " ") for a in ACTIONS.values() if version.stage in a.sources
        )
        raise InvalidInput(
            f"v{version.version} is {version.stage}: '{action.name.replace('_', ' ')}' is not "
            f"possible from there (possible: {', '.join(moves) or 'nothing'})"
        )
    roles = _roles(model, action)
    if by.role not in roles:
        raise PermissionDenied(
            f"{by.username} ({ROLE_LABELS.get(by.role, by.role)}) may not "
            f"{action.name.replace('_', ' ')}; that needs "
            f"{' or '.join(ROLE_LABELS.get(r, r) for r in roles)}"
        )
    return action
