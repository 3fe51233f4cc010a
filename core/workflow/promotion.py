"""Promotion and rollback: an approved version goes live, the one it replaced is archived.

At most one production version per model: `production_version` has the model as primary key,
and each change of a model holds its lock (Work.serialise), so two racing promotions cannot
both leave a version live.
"""

from __future__ import annotations

from typing import Any

from core.auth import Identity
from core.errors import InvalidInput
from core.registry import get_model, get_version
from core.store import (
    Model,
    ModelVersion,
    Promotion,
    Store,
    Work,
    retry_on_conflict,
    utcnow,
)
from core.workflow.lifecycle import _stage, live_version
from core.workflow.rules import check
from core.workflow.standing import rollback_target


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
        number, why_not = rollback_target(w, model=entry, current=current.version)
        if number is None:
            raise InvalidInput(why_not)
        restored = get_version(w, model=entry, version=number)
        _stage(w, entry, current, "archived", by, "rollback_archive")
        _go_live(w, entry, restored, current, by, "rollback")
    return {"model": model, "version": restored.version, "archived": current.version}
