"""Reading a fitted scikit-learn model into core.explain.plain_steps: the arrays each step
scores with, read from the model's attributes (this module imports no scikit-learn; the model
was loaded from its file with skops' allow-list). Unsupported for anything not mirrored.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from core.explain.plain_steps import (
    AVERAGED,
    BOOSTED,
    LINEAR,
    Chain,
    Columns,
    Imputer,
    Linear,
    OneHot,
    Scaler,
    Trees,
    Unsupported,
)


def _name(obj: Any) -> str:
    return type(obj).__name__


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _strings_or_numbers(values: np.ndarray) -> np.ndarray:
    """VALUES as a str or float array (savable without pickle), else Unsupported."""
    if values.dtype.kind in "fiu":
        as_float = values.astype(float)
        if np.isnan(as_float).any() or (np.abs(as_float) > 2**53).any():
            raise Unsupported("a missing or inexact number among the categories")
        return as_float
    if values.dtype.kind in "OU" and all(
        isinstance(v, str) and not v.endswith("\x00") for v in values.tolist()
    ):  # NumPy's str arrays drop trailing NULs
        return values.astype(str)
    raise Unsupported(f"categories of type {values.dtype}")


def read_model(model: Any, names: list[str]) -> tuple[Any, Any]:
    """(preprocessing or None, final estimator) of a fitted model or Pipeline of models."""
    steps = getattr(model, "steps", None)
    if not steps:
        return None, read_estimator(model, len(names))
    *before, (_, estimator) = used_steps(steps)
    chain = []
    for i, (_, step) in enumerate(before):
        if _name(step) == "ColumnTransformer" and i == 0:
            chain.append(read_columns(step, names))
        else:
            chain.append(read_transformer(step, in_columns=False))
    pre: Any = None
    if len(chain) == 1 and isinstance(chain[0], Columns):
        pre = chain[0]
    elif chain:
        pre = Chain(chain)
    width = int(getattr(estimator, "n_features_in_", len(names)))
    return pre, read_estimator(estimator, width)


def read_transformer(step: Any, *, in_columns: bool) -> Any:
    """The plain step of a fitted scikit-learn transformer (Unsupported otherwise)."""
    name = _name(step)
    if name == "SimpleImputer":
        if not _is_nan(step.missing_values) or step.add_indicator:
            raise Unsupported("an imputer of values other than NaN, or with an indicator")
        stats = np.asarray(step.statistics_)
        to_float = step.strategy not in ("most_frequent", "constant")
        if stats.dtype.kind == "O":
            stats = _strings_or_numbers(stats)
        elif np.isnan(stats.astype(float)).any():
            raise Unsupported("an imputer with an empty column")
        return Imputer(stats, to_float)
    if name == "OneHotEncoder":
        if step.drop_idx_ is not None or getattr(step, "_infrequent_enabled", False):
            raise Unsupported("a one-hot encoder dropping or grouping categories")
        if step.dtype not in (np.float64, float) or (step.sparse_output and not in_columns):
            raise Unsupported("a one-hot encoder with another output type")
        cats = [_strings_or_numbers(np.asarray(c)) for c in step.categories_]
        return OneHot(cats, step.handle_unknown == "error")
    if name == "StandardScaler":
        mean = None if step.mean_ is None else np.asarray(step.mean_, dtype=float)
        scale = None if step.scale_ is None else np.asarray(step.scale_, dtype=float)
        return Scaler(mean, scale)
    if name == "Pipeline":
        return Chain(
            [read_transformer(s, in_columns=in_columns) for _, s in used_steps(step.steps)]
        )
    raise Unsupported(name)


def used_steps(steps: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(n, s) for n, s in steps if s is not None and s != "passthrough"]


def read_columns(step: Any, names: list[str]) -> Columns:
    """A fitted ColumnTransformer with a dense output."""
    if step.sparse_output_:
        raise Unsupported("a sparse column transformer output")
    given = [str(n) for n in getattr(step, "feature_names_in_", names)]
    parts = []
    for _, transformer, columns in step.transformers_:
        picked = np.atleast_1d(np.asarray(columns))
        if transformer == "drop" or picked.size == 0:
            continue
        if picked.dtype.kind == "b":
            picked = np.flatnonzero(picked)
        chosen = [given[int(c)] if picked.dtype.kind in "iu" else str(c) for c in picked]
        if transformer == "passthrough":
            parts.append((Chain([]), chosen))
            continue
        plain = read_transformer(transformer, in_columns=True)
        parts.append((plain if isinstance(plain, Chain) else Chain([plain]), chosen))
    for chain, _ in parts:
        for s in chain.steps:
            if isinstance(s, OneHot) and not s.categories:
                raise Unsupported("an encoder without columns")
    return Columns(parts, [str(n) for n in step.get_feature_names_out(names)], names)


def read_estimator(est: Any, width: int) -> Any:
    """The plain final estimator of a fitted model (Unsupported otherwise)."""
    name = _name(est)
    classes = getattr(est, "classes_", None)
    plain_classes = None if classes is None else np.asarray([str(c) for c in classes])
    if name in LINEAR:
        coef = np.asarray(est.coef_, dtype=float)
        if classes is not None and (len(classes) != 2 or coef.shape[0] != 1):
            raise Unsupported("a multiclass linear model")
        if coef.shape[-1] != width or (coef.ndim == 2 and classes is None):
            raise Unsupported("a linear model with several outputs")
        intercept = est.intercept_
        intercept = np.asarray(intercept, dtype=float) if np.ndim(intercept) else float(intercept)
        return Linear(name, coef, intercept, plain_classes)
    if name in AVERAGED:
        trees = list(getattr(est, "estimators_", [est]))
        if getattr(est, "n_outputs_", 1) != 1:
            raise Unsupported("a multi-output forest")
        parts = [_tree_arrays(t.tree_, classifier=classes is not None) for t in trees]
        return _trees(name, parts, plain_classes, 1.0, 0.0, est, width)
    if name in BOOSTED:
        stages = est.estimators_
        if stages.shape[1] != 1:
            raise Unsupported("a multiclass boosted model")
        if classes is not None and _name(est._loss) != "HalfBinomialLoss":
            raise Unsupported("a boosted classifier with another loss")
        init = est._raw_predict_init(np.zeros((1, width), dtype=np.float32))
        if est.init_ != "zero" and _name(est.init_) not in ("DummyClassifier", "DummyRegressor"):
            raise Unsupported("a boosted model with its own initial estimator")
        parts = [_tree_arrays(t.tree_, classifier=False) for t in stages[:, 0]]
        rate = float(est.learning_rate)
        return _trees(name, parts, plain_classes, rate, float(init[0, 0]), est, width)
    raise Unsupported(name)


def _tree_arrays(t: Any, *, classifier: bool) -> tuple[np.ndarray, ...]:
    value = t.value[:, 0, :] if classifier else t.value[:, 0, :1]
    missing = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=bool))
    return (
        np.asarray(t.children_left, dtype=np.int64),
        np.asarray(t.children_right, np.int64),
        np.asarray(t.feature, np.int64),
        np.asarray(t.threshold, dtype=float),
        np.asarray(missing, dtype=bool),
        np.asarray(value, dtype=float),
    )


def _trees(
    kind: str,
    parts: list[tuple[np.ndarray, ...]],
    classes: np.ndarray | None,
    rate: float,
    init: float,
    est: Any,
    width: int,
) -> Trees:
    sizes = [len(p[0]) for p in parts]
    offsets = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
    shift = np.repeat(offsets, sizes)
    left, right, feature, threshold, missing, value = (
        np.concatenate([p[k] for p in parts]) for k in range(6)
    )
    leaf = left < 0
    return Trees(
        kind,
        offsets,
        np.where(leaf, -1, left + shift),
        np.where(leaf, -1, right + shift),
        feature,
        threshold,
        missing,
        value,
        classes,
        rate,
        init,
        _takes_nan(est, width),
    )


def _takes_nan(est: Any, width: int) -> bool:
    """Whether the estimator scores a row with a missing value (else it refuses it)."""
    row = np.full((1, width), np.nan)
    try:
        (est.predict_proba if hasattr(est, "classes_") else est.predict)(row)
    except ValueError:
        return False
    return True
