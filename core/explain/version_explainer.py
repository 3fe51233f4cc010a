"""A registered version's explainer, built once per process from its model file (or the plain
form kept beside it, core.explain.plain_model) and its reference rows, and a logged request
read back for explaining."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd
from sqlmodel import select

from core.errors import NotFound
from core.explain.explainers import Explainer, build_explainer
from core.explain.permutation import BACKGROUND_ROWS
from core.explain.plain_model import keep_plain, load_plain
from core.files.sources import quote_ident
from core.registry import features_of, reference_frame, scoring_class
from core.registry.artifacts import check_model_file, load_model, model_file
from core.store import Model, ModelVersion, Store, Work, log_tables, open_store


@lru_cache(maxsize=32)  # a version's explainer per class: a multiclass model has several
def _cached_explainer(
    db: str, model_id: int, version: int, sha: str, units: str, class_: str | None
) -> Explainer:
    store = open_store(db)
    with store.read() as r:
        model = r.session.get(Model, model_id)
        target = r.session.exec(
            select(ModelVersion).where(
                ModelVersion.model_id == model_id, ModelVersion.version == version
            )
        ).one()
        background = reference_frame(r, model=model, version=target, limit=BACKGROUND_ROWS * 5)
    path = model_file(target.artifact_path, sha256=target.artifact_sha256)
    # The file is checked as loading checks it; its plain form, when kept, spares loading it.
    check_model_file(path, expected_sha256=target.artifact_sha256, shown_as=path.name)
    estimator: Any = load_plain(path, sha256=sha)
    loaded = (
        "skops, allow-listed types only"
        if target.artifact_format == "skops"
        else "joblib registered before pickles were refused: sha256 matches, loaded in a "
        "separate process and kept as skops"
    )
    sample = background.sample(n=min(len(background), BACKGROUND_ROWS), random_state=0)
    if estimator is None:
        estimator = load_model(path, expected_sha256=target.artifact_sha256)
        keep_plain(estimator, features_of(target), sample, path, sha)
    return build_explainer(
        estimator,
        features_of(target),
        sample,
        class_ if class_ is not None else scoring_class(model, target),
        units,
        loaded,
    )


def explainer_for(
    store: Store,
    *,
    model: Model,
    version: ModelVersion,
    units: str = "probability",
    class_: str | None = None,
) -> Explainer:
    """The cached explainer of a version (NotFound when it has no model file); a multiclass
    model's explains the probability of CLASS_, one of its classes."""
    if not version.artifact_path:
        raise NotFound(
            f"{model.name} v{version.version} has no model file; register it with --model-file "
            "to get explanations"
        )
    return _cached_explainer(
        store.target,
        model.id,
        version.version,
        version.artifact_sha256 or "",
        units,
        class_,
    )


def logged_case(w: Work, *, model: Model, request_id: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A logged request: its features (one-row frame) and its log record (version, score, ts)."""
    assert model.id is not None
    found = w.rows(
        f"SELECT version FROM {log_tables.pred_table(model.id)} WHERE request_id = ? LIMIT 1",
        [request_id],
    )
    if not found:
        raise NotFound(f"no logged prediction with request id {request_id!r} for {model.name}")
    version = w.session.exec(
        select(ModelVersion).where(
            ModelVersion.model_id == model.id, ModelVersion.version == found[0][0]
        )
    ).one()
    features = features_of(version)
    cols = ", ".join(f"{f.column} AS {quote_ident(f.name)}" for f in features)
    frame = w.frame(
        f"SELECT request_id, version, ts, score, {cols} FROM {log_tables.pred_table(model.id)} "
        "WHERE request_id = ? LIMIT 1",
        [request_id],
    )
    record = frame.iloc[0][["request_id", "version", "ts", "score"]].to_dict()
    return frame[[f.name for f in features]], record
