"""Promotion and rollback: an approved version goes live, the one it replaced is archived.

At most one production version per model: `production_version` has the model as primary key,
and each change of a model holds its lock (Work.serialise), so two racing promotions cannot
both leave a version live.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from core.auth import Identity
from core.errors import InvalidInput, NotFound
from core.registry import get_model, get_version
from core.store import (
    Model,
    ModelVersion,
    Promotion,
    Review,
    SignOff,
    Store,
    Work,
    retry_on_conflict,
    utcnow,
)
from core.workflow.lifecycle import _stage, live_version
from core.workflow.rules import check


def promote(store: Store, *, model: str, version: int, by: Identity) -> dict[str, Any]:
    """Make an approved version live and archive the previous one, in one transaction."""
    return retry_on_conflict(lambda: _promote(store, model, version, by))


def _promote(store: Store, model: str, version: int, by: Identity) -> dict[str, Any]:
    with store.open().write() as w:
        entry = get_model(w, name=model)
        w.serialise(f"model:{entry.name}")
        candidate = get_version(w, model=entry, version=version)
        check(entry, candidate, "promote", by)
        previous = live_version(w, model=entry)
        if previous is not None:
            _stage(w, entry, previous, "archived", by, "archive", {"replaced_by": version})
        _go_live(w, entry, candidate, previous, by, "promote")
    return {"model": model, "version": version, "archived": previous.version if previous else None}


def _go_live(
    w: Work,
    model: Model,
    version: ModelVersion,
    previous: ModelVersion | None,
    by: Identity,
    kind: str,
) -> None:
    assert model.id is not None
    now = utcnow()
    w.catalog(
        "INSERT INTO production_version (model_id, version, promoted_by, promoted_at) "
        "VALUES (:model, :version, :by, :at) ON CONFLICT (model_id) DO UPDATE SET "
        "version = excluded.version, promoted_by = excluded.promoted_by, "
        "promoted_at = excluded.promoted_at",
        {"model": model.id, "version": version.version, "by": by.username,
         "at": now.replace(tzinfo=None)},
    )  # fmt: skip
    w.session.add(
        Promotion(
            model_id=model.id,
            version=version.version,
            promoted_by=by.username,
            previous_version=previous.version if previous else None,
            kind=kind,
        )
    )
    _stage(
        w,
        model,
        version,
        "production",
        by,
        kind,
        {"previous": previous.version if previous else None},
    )


def rollback(store: Store, *, model: str, by: Identity) -> dict[str, Any]:
    """Put the version that was live before the current one back in production (one action)."""
    return retry_on_conflict(lambda: _rollback(store, model, by))


def _rollback(store: Store, model: str, by: Identity) -> dict[str, Any]:
    with store.open().write() as w:
        entry = get_model(w, name=model)
        w.serialise(f"model:{entry.name}")
        current = live_version(w, model=entry)
        if current is None:
            raise InvalidInput(f"{model} has no production version to roll back")
        check(entry, current, "rollback", by)
        restored, why_not = _restorable(w, entry, current)
        if restored is None:
            raise InvalidInput(why_not)
        _stage(w, entry, current, "archived", by, "rollback_archive")
        _go_live(w, entry, restored, current, by, "rollback")
    return {"model": model, "version": restored.version, "archived": current.version}


def _restorable(w: Work, entry: Model, current: ModelVersion) -> tuple[ModelVersion | None, str]:
    """The version a rollback of CURRENT would put live again, or None and why there is none."""
    # The version to restore is the one the current version replaced when it was promoted.
    # A record left by an earlier rollback does not count: it names the version that was
    # rolled back, and a second rollback must never put that one live again unreviewed.
    last = w.session.exec(
        select(Promotion)
        .where(
            Promotion.model_id == entry.id,
            Promotion.version == current.version,
            Promotion.kind == "promote",
        )
        .order_by(col(Promotion.id).desc())
    ).first()
    if last is None or last.previous_version is None:
        return None, (
            f"v{current.version} replaced nothing when it was promoted; there is no version to "
            "roll back to"
        )
    restored = get_version(w, model=entry, version=last.previous_version)
    if restored.stage != "archived":
        return None, (
            f"v{restored.version}, which v{current.version} replaced, is {restored.stage} now; "
            "it must be promoted through review, not by a rollback"
        )
    return restored, ""


def production(store: Store, *, model: str) -> dict[str, Any]:
    """What a serving system polls: the live version, its model file and who approved it."""
    with store.open().read() as r:
        entry = get_model(r, name=model)
        live = live_version(r, model=entry)
        if live is None:
            raise NotFound(f"{model} has no production version")
        approval = r.session.exec(
            select(SignOff)
            .join(Review, col(SignOff.review_id) == Review.id)
            .where(
                Review.model_id == entry.id,
                Review.version == live.version,
                SignOff.decision == "approve",
            )
            .order_by(col(SignOff.id).desc())
        ).first()
        restorable, why_not = _restorable(r, entry, live)
    return {
        "model": model,
        "version": live.version,
        "artifact_path": live.artifact_path,
        "artifact_sha256": live.artifact_sha256,
        "approved_by": approval.username if approval else None,
        "approved_at": approval.signed_at.isoformat() if approval else None,
        "rollback_to": restorable.version if restorable else None,
        "no_rollback_because": why_not or None,
    }
