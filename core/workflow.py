"""Version lifecycle: one explicit transition table, role rules in core, audited changes.

registered → in_review → approved | rejected → production → archived. At most one production
version per model: the `production_version` table has the model as primary key, so two racing
promotions cannot both commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from core import audit
from core.auth import Identity
from core.errors import InvalidInput, PermissionDenied
from core.models import ModelVersion, utcnow
from core.registry import get_model, get_version
from core.store import Store, Work

# (from, to) -> roles allowed to make that move.
TRANSITIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("registered", "in_review"): ("ml_engineer", "product_owner", "admin"),
    ("in_review", "approved"): ("product_owner", "admin"),
    ("in_review", "rejected"): ("product_owner", "admin"),
    ("in_review", "registered"): ("product_owner", "admin", "ml_engineer"),
    ("rejected", "in_review"): ("ml_engineer", "product_owner", "admin"),
    ("approved", "production"): ("product_owner", "admin"),
    ("production", "archived"): ("product_owner", "admin"),
    ("archived", "production"): ("product_owner", "admin"),
}

@dataclass(frozen=True)
class StageChange:
    """What a transition did."""

    model: str
    version: int
    before: str
    after: str
    archived: int | None = None


def allowed(before: str, after: str, role: str) -> bool:
    """Whether ROLE may move a version from BEFORE to AFTER."""
    return role in TRANSITIONS.get((before, after), ())


def _check(before: str, after: str, who: Identity) -> None:
    roles = TRANSITIONS.get((before, after))
    if roles is None:
        moves = sorted(b for (a, b) in TRANSITIONS if a == before)
        raise InvalidInput(
            f"a {before} version cannot become {after}; from {before} it can become "
            f"{', '.join(moves) or 'nothing else'}"
        )
    if who.role not in roles:
        raise PermissionDenied(
            f"{who.username} ({who.role}) may not move a version from {before} to {after}; "
            f"that needs the role {' or '.join(roles)}"
        )


def change_stage(store: Store, *, model: str, version: int, to: str, by: Identity) -> StageChange:
    """Move one version to stage TO, checking the transition table and the user's role."""
    with store.write() as w:
        entry = get_model(w, model)
        target = get_version(w, entry, version)
        before = target.stage
        _check(before, to, by)
        archived = None
        if to == "production":
            archived = _archive_current(w, entry.id, by)
            w.sql(
                "INSERT OR REPLACE INTO production_version VALUES (?, ?, ?, ?)",
                [entry.id, version, by.username, utcnow().replace(tzinfo=None)],
            )
        elif before == "production":
            w.sql("DELETE FROM production_version WHERE model_id = ?", [entry.id])
        target.stage = to
        w.session.add(target)
        audit.record(
            w,
            actor=by.username,
            role=by.role,
            action="stage_change",
            model=model,
            version=version,
            before={"stage": before},
            after={"stage": to, "archived_version": archived},
        )
    return StageChange(model, version, before, to, archived)


def _archive_current(w: Work, model_id: int, by: Identity) -> int | None:
    current = w.session.exec(
        select(ModelVersion).where(
            ModelVersion.model_id == model_id, ModelVersion.stage == "production"
        )
    ).first()
    if current is None:
        return None
    current.stage = "archived"
    w.session.add(current)
    return current.version
