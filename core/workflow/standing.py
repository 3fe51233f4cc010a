"""Where a model's versions stand, read from the catalog alone: the live version, who approved
it, what a rollback would restore, and a version's open review with its frozen gates.

Portable SQL on any catalog reader: a serving system's `modelbridge production` and a
pipeline's `modelbridge gate` answer through a light `Store.catalog_read`, and the dashboard and
the promotion steps use the same queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import NotFound
from core.registry import ModelRef, find_model
from core.store import CatalogReader, Store, json_value, utc

if TYPE_CHECKING:
    from core.store import Model


@dataclass(frozen=True)
class FrozenEvidence:
    """A review's evidence as frozen when review was asked for, and its hash."""

    review_id: int
    evidence: dict[str, Any]
    evidence_sha256: str


def live_version_number(w: CatalogReader, *, model: ModelRef | Model) -> int | None:
    """The number of the version in production, or None while nothing has been promoted."""
    found = w.catalog(
        "SELECT version FROM model_version WHERE model_id = :model AND stage = 'production' "
        "ORDER BY version LIMIT 1",
        {"model": model.id},
    ).scalar()
    return None if found is None else int(found)


def open_review_evidence(
    w: CatalogReader, *, model: ModelRef | Model, version: int
) -> FrozenEvidence:
    """The evidence of the version's open review (NotFound when review was not requested)."""
    found = w.catalog(
        "SELECT id, evidence, evidence_sha256 FROM review WHERE model_id = :model AND "
        "version = :version AND status = 'open' ORDER BY id DESC LIMIT 1",
        {"model": model.id, "version": version},
    ).first()
    if found is None:
        raise NotFound(f"{model.name} v{version} has no open review; request one first")
    return FrozenEvidence(int(found[0]), dict(json_value(found[1])), str(found[2]))


def blocking_failures(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """Blocking gates that failed in a review's frozen evidence."""
    return [g for g in evidence.get("gates", []) if g["blocking"] and g["status"] == "fail"]


def rollback_target(
    w: CatalogReader, *, model: ModelRef | Model, current: int
) -> tuple[int | None, str]:
    """The version a rollback of CURRENT would put live again, or None and why there is none."""
    # The version to restore is the one the current version replaced when it was promoted.
    # A record left by an earlier rollback does not count: it names the version that was
    # rolled back, and a second rollback must never put that one live again unreviewed.
    last = w.catalog(
        "SELECT previous_version FROM promotion WHERE model_id = :model AND version = :version "
        "AND kind = 'promote' ORDER BY id DESC LIMIT 1",
        {"model": model.id, "version": current},
    ).first()
    if last is None or last[0] is None:
        return None, (
            f"v{current} replaced nothing when it was promoted; there is no version to roll back to"
        )
    restored = int(last[0])
    stage = w.catalog(
        "SELECT stage FROM model_version WHERE model_id = :model AND version = :version",
        {"model": model.id, "version": restored},
    ).scalar()
    if stage is None:
        raise NotFound(f"model {model.name!r} has no version {restored}")
    if stage != "archived":
        return None, (
            f"v{restored}, which v{current} replaced, is {stage} now; it must be promoted "
            "through review, not by a rollback"
        )
    return restored, ""


def production(store: Store, *, model: str) -> dict[str, Any]:
    """What a serving system polls: the live version, its model file and who approved it."""
    with store.catalog_read() as r:
        entry = find_model(r, name=model)
        version = live_version_number(r, model=entry)
        if version is None:
            raise NotFound(f"{model} has no production version")
        live = r.catalog(
            "SELECT artifact_path, artifact_sha256 FROM model_version "
            "WHERE model_id = :model AND version = :version",
            {"model": entry.id, "version": version},
        ).one()
        approval = r.catalog(
            "SELECT s.username, s.signed_at FROM sign_off s JOIN review v ON s.review_id = v.id "
            "WHERE v.model_id = :model AND v.version = :version AND s.decision = 'approve' "
            "ORDER BY s.id DESC LIMIT 1",
            {"model": entry.id, "version": version},
        ).first()
        restorable, why_not = rollback_target(r, model=entry, current=version)
    return {
        "model": model,
        "version": version,
        "artifact_path": live[0],
        "artifact_sha256": live[1],
        "approved_by": approval[0] if approval else None,
        "approved_at": utc(approval[1]).isoformat() if approval else None,
        "rollback_to": restorable,
        "no_rollback_because": why_not or None,
    }
