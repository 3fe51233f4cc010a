"""Finding registered models and versions: by name, by number, the live one, all of them.

`find_model` and `version_summaries` run portable SQL on any catalog reader, a light
`Store.catalog_read` included (commands a serving system polls); the others return SQLModel
objects for a full unit of work.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.errors import InvalidInput, NotFound
from core.registry.features import Feature, schema_from_json
from core.store import CatalogReader, json_value, utc

if TYPE_CHECKING:
    from core.store import Model, ModelVersion, Work


@dataclass(frozen=True)
class ModelRef:
    """A registered model as the catalog names it: its id, name and task."""

    id: int
    name: str
    task: str


def find_model(w: CatalogReader, *, name: str) -> ModelRef:
    """The model called NAME (as registration stores names: NFC, trimmed), or a NotFound naming
    the models that exist."""
    stored = unicodedata.normalize("NFC", name).strip()
    found = w.catalog("SELECT id, name, task FROM model WHERE name = :name", {"name": stored})
    row = found.first()
    if row is None:
        known = [r[0] for r in w.catalog("SELECT name FROM model ORDER BY name")]
        hint = f"known models: {', '.join(known)}" if known else "no models are registered yet"
        raise NotFound(f"unknown model {name!r} ({hint})")
    return ModelRef(int(row[0]), str(row[1]), str(row[2]))


def get_model(w: Work, *, name: str) -> Model:
    """The model called NAME (find_model), as its SQLModel object."""
    from core.store import Model

    found = w.session.get(Model, find_model(w, name=name).id)
    assert found is not None  # found by the same unit of work a moment ago
    return found


def get_version(w: Work, *, model: Model, version: int | None = None) -> ModelVersion:
    """A given version, else the production version, else the newest one."""
    from sqlmodel import col, select

    from core.store import ModelVersion

    query = select(ModelVersion).where(ModelVersion.model_id == model.id)
    if version is not None:
        found = w.session.exec(query.where(ModelVersion.version == version)).first()
        if found is None:
            raise NotFound(f"model {model.name!r} has no version {version}")
        return found
    live = w.session.exec(query.where(ModelVersion.stage == "production")).first()
    if live:
        return live
    newest = w.session.exec(query.order_by(col(ModelVersion.version).desc())).first()
    if newest is None:
        raise NotFound(f"model {model.name!r} has no versions")
    return newest


def list_models(w: Work) -> list[Model]:
    """All models by name."""
    from sqlmodel import select

    from core.store import Model

    return list(w.session.exec(select(Model).order_by(Model.name)).all())


def list_versions(w: Work, *, model: Model) -> list[ModelVersion]:
    """A model's versions, newest first."""
    from sqlmodel import col, select

    from core.store import ModelVersion

    return list(
        w.session.exec(
            select(ModelVersion)
            .where(ModelVersion.model_id == model.id)
            .order_by(col(ModelVersion.version).desc())
        ).all()
    )


@dataclass(frozen=True)
class VersionSummary:
    """One version as `modelbridge versions` lists it."""

    version: int
    stage: str
    created_by: str
    created_at: datetime
    git_sha: str | None
    metrics: dict[str, Any]


def version_summaries(w: CatalogReader, *, model: ModelRef | Model) -> list[VersionSummary]:
    """A model's versions, newest first: stage, who registered each and when, its reference
    metrics (portable SQL; the same rows as list_versions)."""
    rows = w.catalog(
        "SELECT version, stage, created_by, created_at, git_sha, metrics FROM model_version "
        "WHERE model_id = :model ORDER BY version DESC",
        {"model": model.id},
    )
    return [
        VersionSummary(int(v), str(stage), str(by), utc(at), sha, dict(json_value(metrics)))
        for v, stage, by, at, sha, metrics in rows
    ]


def scoring_class(model: Model, version: ModelVersion) -> str | None:
    """The model file's class whose probability is the score (None for a regression)."""
    if model.positive_label is None:
        return None
    return version.positive_class or model.positive_label


def features_of(version: ModelVersion) -> list[Feature]:
    """A version's features in registered order."""
    return schema_from_json(version.feature_schema)


def refuse_multiclass(model: Model, *, what: str) -> None:
    """Refuse WHAT for a multiclass model, which it does not handle yet: its answers would treat
    the predicted class's probability as a binary score."""
    if model.task == "multiclass":
        raise InvalidInput(
            f"{what} are not available for multiclass models yet ({model.name!r} has "
            f"{len(model.classes or [])} classes); its drift, performance and alerts are"
        )
