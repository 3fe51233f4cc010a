"""Finding registered models and versions: by name, by number, the live one, all of them."""

from __future__ import annotations

import unicodedata

from sqlmodel import col, select

from core.errors import InvalidInput, NotFound
from core.registry.features import Feature, schema_from_json
from core.store import Model, ModelVersion, Work


def get_model(w: Work, *, name: str) -> Model:
    """The model called NAME (as registration stores names: NFC, trimmed), or a NotFound naming
    the models that exist."""
    stored = unicodedata.normalize("NFC", name).strip()
    found = w.session.exec(select(Model).where(Model.name == stored)).first()
    if found is None:
        known = [m.name for m in w.session.exec(select(Model).order_by(Model.name)).all()]
        hint = f"known models: {', '.join(known)}" if known else "no models are registered yet"
        raise NotFound(f"unknown model {name!r} ({hint})")
    return found


def get_version(w: Work, *, model: Model, version: int | None = None) -> ModelVersion:
    """A given version, else the production version, else the newest one."""
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
    return list(w.session.exec(select(Model).order_by(Model.name)).all())


def list_versions(w: Work, *, model: Model) -> list[ModelVersion]:
    """A model's versions, newest first."""
    return list(
        w.session.exec(
            select(ModelVersion)
            .where(ModelVersion.model_id == model.id)
            .order_by(col(ModelVersion.version).desc())
        ).all()
    )


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
