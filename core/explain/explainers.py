"""SHAP explanations of a version's model, in the model's output units and original features.

Tree ensembles get TreeExplainer (interventional, exact and fast), linear models explained in
their margin get LinearExplainer; anything else, and linear classifiers in probability units,
gets the permutation explainer on the whole pipeline, which is additive by construction. A
scikit-learn Pipeline is explained in the columns the user sent: the contributions of the
one-hot parts of a categorical feature are summed back to that feature.

The permutation explainer (core.explain.permutation) answers within a time budget per case
(MODELBRIDGE_EXPLAIN_BUDGET, 2 s by default); each explanation says what it sampled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlmodel import select

from core.errors import InvalidInput, NotFound
from core.explain.permutation import BACKGROUND_ROWS, Sampling, permutation_explain
from core.files.sources import quote_ident
from core.registry import features_of, reference_frame, scoring_class
from core.registry.artifacts import class_index, load_model
from core.registry.features import Feature
from core.settings import Settings, positive_seconds
from core.store import Model, ModelVersion, Store, Work, log_tables
from core.words import plain

UNITS = ("probability", "log_odds")


@dataclass(frozen=True)
class Explanation:
    """One row explained: base value + sum(contributions) = output."""

    base_value: float
    output: float
    contributions: dict[str, float]
    values: dict[str, Any]
    units: str
    method: str
    sampling: Sampling | None = None  # the permutation explainer's; tree and linear are exact

    @property
    def note(self) -> str:
        """How the contributions were sampled, in plain words ('' for an exact method)."""
        return self.sampling.note if self.sampling is not None else ""


@dataclass
class Explainer:
    """A fitted explainer for one model version (cache it: building one costs a little)."""

    model: Any
    features: list[Feature]
    positive_label: str | None
    units: str
    method: str
    loaded_with: str
    sampling: Sampling | None = None
    _explain: Any = None

    @property
    def names(self) -> list[str]:
        """Original feature names, in registered order."""
        return [f.name for f in self.features]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's output for rows of original features, in this explainer's units."""
        frame = frame[self.names]
        if self.positive_label is None:
            return np.asarray(self.model.predict(frame), dtype=float)
        proba = self.model.predict_proba(frame)[:, _positive_index(self.model, self.positive_label)]
        if self.units == "log_odds":
            clipped = np.clip(proba, 1e-12, 1 - 1e-12)
            return np.log(clipped / (1 - clipped))
        return proba

    def explain(self, frame: pd.DataFrame) -> list[Explanation]:
        """Explain each row of FRAME (original feature columns)."""
        frame = frame[self.names].reset_index(drop=True)
        base, contributions = self._explain(frame)
        outputs = self.predict(frame)
        return [
            Explanation(
                base_value=float(base[i]),
                output=float(outputs[i]),
                contributions={n: float(contributions[i, j]) for j, n in enumerate(self.names)},
                values={n: plain(frame.iloc[i][n]) for n in self.names},
                units=self.units,
                method=self.method,
                sampling=self.sampling,
            )
            for i in range(len(frame))
        ]


def _positive_index(model: Any, positive_label: str) -> int:
    # The same rule as scoring at registration, so 'true' finds a model's True class.
    return class_index([str(c) for c in getattr(model, "classes_", [])], positive_label)


def _split(model: Any) -> tuple[Any | None, Any]:
    """(preprocessing, final estimator) of a Pipeline; (None, model) otherwise."""
    steps = getattr(model, "steps", None)
    if steps and len(steps) > 1:
        return model[:-1], model[-1]
    return None, model


def feature_groups(preprocess: Any, names: list[str], width: int) -> np.ndarray | None:
    """For each transformed column, the index of the original feature it came from."""
    if preprocess is None:
        return np.arange(len(names)) if width == len(names) else None
    try:
        out = list(preprocess.get_feature_names_out(names))
    except Exception:  # a transformer without feature names: cannot map back
        return None
    if len(out) != width:
        return None
    groups = []
    for column in out:
        bare = column.split("__", 1)[-1]
        match = max(
            (i for i, n in enumerate(names) if bare == n or bare.startswith(f"{n}_")),
            key=lambda i: len(names[i]),
            default=None,
        )
        if match is None:
            return None
        groups.append(match)
    return np.asarray(groups)


def _is_tree(estimator: Any) -> bool:
    name = type(estimator).__name__
    return any(k in name for k in ("Forest", "Tree", "GradientBoosting", "Boost"))


def _is_linear(estimator: Any) -> bool:
    return hasattr(estimator, "coef_") and hasattr(estimator, "intercept_")


def build_explainer(
    model: Any,
    features: list[Feature],
    background: pd.DataFrame,
    positive_label: str | None,
    units: str = "probability",
    loaded_with: str = "",
    *,
    budget_seconds: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Explainer:
    """Choose and fit the explainer for a model; BACKGROUND holds reference rows.

    BUDGET_SECONDS (default: the MODELBRIDGE_EXPLAIN_BUDGET setting) bounds the permutation
    explainer's time per case, as measured with CLOCK.
    """
    import shap

    if units not in UNITS:
        raise InvalidInput(f"unknown units {units!r}; use {' or '.join(UNITS)}")
    budget = _budget(budget_seconds)
    classifier = positive_label is not None
    names = [f.name for f in features]
    background = background[names].head(BACKGROUND_ROWS).reset_index(drop=True)
    preprocess, estimator = _split(model)
    explainer = Explainer(
        model, features, positive_label, units if classifier else "prediction", "", loaded_with
    )
    transformed = preprocess.transform(background) if preprocess is not None else background
    transformed = np.asarray(transformed, dtype=float) if preprocess is not None else transformed
    groups = feature_groups(preprocess, names, np.shape(transformed)[1])
    index = _output_index(estimator, positive_label)
    if groups is not None and _is_tree(estimator):
        try:
            output = "probability" if classifier and units == "probability" else "raw"
            tree = shap.TreeExplainer(
                estimator,
                data=transformed,
                model_output=output,
                feature_perturbation="interventional",
            )
            run = _transformed_explain(tree, preprocess, groups, len(names), index, units)
            if _additive(explainer, run, background):
                explainer.method, explainer._explain = "tree", run
                return explainer
        except Exception:  # shap does not know this tree model: use the model-agnostic route
            pass
    if groups is not None and _is_linear(estimator) and (not classifier or units == "log_odds"):
        linear = shap.LinearExplainer(estimator, transformed)
        run = _transformed_explain(linear, preprocess, groups, len(names), index, units)
        if _additive(explainer, run, background):
            explainer.method, explainer._explain = "linear", run
            return explainer
    explainer.method = "permutation"
    explainer._explain, explainer.sampling = permutation_explain(
        explainer, background, budget, clock
    )
    return explainer


def _budget(seconds: float | None) -> float:
    """The time budget per case: SECONDS when given, else the setting."""
    if seconds is None:
        return Settings.from_env().explain_budget_seconds
    return positive_seconds(seconds, "the explanation budget")


def _additive(explainer: Explainer, run: Any, background: pd.DataFrame) -> bool:
    """Whether RUN adds up to the model's output in the explainer's units on a few rows."""
    # e.g. a random forest's raw output is a probability: its tree explanation has no log-odds
    sample = background.head(5)
    base, contributions = run(sample)
    expected = explainer.predict(sample)
    return bool(np.allclose(base + contributions.sum(axis=1), expected, rtol=1e-6, atol=1e-6))


def _output_index(estimator: Any, positive_label: str | None) -> int | None:
    return None if positive_label is None else _positive_index(estimator, positive_label)


def _transformed_explain(
    shap_explainer: Any,
    preprocess: Any,
    groups: np.ndarray,
    width: int,
    index: int | None,
    units: str,
) -> Any:
    def run(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        x = preprocess.transform(frame) if preprocess is not None else frame
        x = np.asarray(x, dtype=float) if preprocess is not None else x
        result = shap_explainer(x)
        values, base = np.asarray(result.values), np.asarray(result.base_values)
        if values.ndim == 3:  # one slice per class
            values = values[:, :, index if index is not None else 0]
            base = base[:, index if index is not None else 0] if base.ndim == 2 else base
        elif index == 0:
            # A binary model with one output explains classes_[1]; the positive label is the other
            values = -values
            base = 1 - base if units == "probability" else -base
        summed = np.zeros((values.shape[0], width))
        np.add.at(summed.T, groups, values.T)
        return np.broadcast_to(base, (values.shape[0],)).astype(float), summed

    return run


@lru_cache(maxsize=8)
def _cached_explainer(
    db: str, model_id: int, version: int, sha: str, units: str, budget_seconds: float
) -> Explainer:
    store = Store(db)
    with store.read() as r:
        model = r.session.get(Model, model_id)
        target = r.session.exec(
            select(ModelVersion).where(
                ModelVersion.model_id == model_id, ModelVersion.version == version
            )
        ).one()
        background = reference_frame(r, model=model, version=target, limit=BACKGROUND_ROWS * 5)
    estimator = load_model(Path(target.artifact_path), expected_sha256=target.artifact_sha256)
    loaded = (
        "skops, allow-listed types only"
        if target.artifact_format == "skops"
        else "joblib, sha256 matches the registered file"
    )
    sample = background.sample(n=min(len(background), BACKGROUND_ROWS), random_state=0)
    return build_explainer(
        estimator,
        features_of(target),
        sample,
        scoring_class(model, target),
        units,
        loaded,
        budget_seconds=budget_seconds,
    )


def explainer_for(
    store: Store,
    *,
    model: Model,
    version: ModelVersion,
    units: str = "probability",
    budget_seconds: float | None = None,
) -> Explainer:
    """The cached explainer of a version (NotFound when it has no model file)."""
    if not version.artifact_path:
        raise NotFound(
            f"{model.name} v{version.version} has no model file; register it with --model-file "
            "to get explanations"
        )
    return _cached_explainer(
        str(store.path),
        model.id,
        version.version,
        version.artifact_sha256 or "",
        units,
        _budget(budget_seconds),
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
