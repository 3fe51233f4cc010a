"""Exact explanations of linear and logistic models behind per-column preprocessing.

The margin m(x) = w . T(x) + b, with every model column of T fed by one input column j, is a
sum of one term per input column, g_j(x_j). The Shapley value of column j against the
background rows is then g_j(x_j) minus the mean of g_j over the background, and the base value
is the mean margin over the background: exact, and one matrix product per batch of cases.
A logistic model's margin is its log-odds (core.explain.units carries them into probability).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from core.explain.columns import group_sum
from core.explain.units import sigmoid


def exact_route(
    estimator: Any, positive: int | None, bg: np.ndarray, groups: np.ndarray, width: int
) -> Any:
    """A run (model-column rows -> base, contributions, output, scale) for a linear model
    whose output is its margin (regression) or the sigmoid of it (binary); None otherwise.

    POSITIVE is the index of the class explained; the margin scores classes_[1]."""
    coef, intercept = getattr(estimator, "coef_", None), getattr(estimator, "intercept_", None)
    if coef is None or intercept is None:
        return None
    coef, intercept = np.asarray(coef, dtype=float), np.ravel(np.asarray(intercept, dtype=float))
    if coef.ndim == 2 and coef.shape[0] != 1 or coef.size != bg.shape[1] or intercept.size != 1:
        return None  # several outputs or classes
    sign = -1.0 if positive == 0 else 1.0
    weights, offset = sign * coef.ravel(), sign * float(intercept[0])
    native = "prediction" if positive is None else "log_odds"
    if not _output_is_margin(estimator, positive, bg, bg @ weights + offset):
        return None
    centre = bg.mean(axis=0)
    base = float(centre @ weights + offset)

    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        values = group_sum((x - centre) * weights, groups, width)
        return np.full(len(x), base), values, x @ weights + offset, native

    return run


def _output_is_margin(estimator: Any, positive: int | None, bg: np.ndarray, margin: Any) -> bool:
    """Whether the model's own output is the margin (or, for a classifier, its sigmoid)."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            if positive is None:
                own = np.asarray(estimator.predict(bg), dtype=float)
                return bool(np.allclose(own, margin, rtol=1e-9, atol=1e-9))
            if len(getattr(estimator, "classes_", [])) != 2:
                return False
            own = np.asarray(estimator.predict_proba(bg)[:, positive], dtype=float)
        return bool(np.allclose(own, sigmoid(margin), rtol=1e-9, atol=1e-12))
    except Exception:  # a model without these methods is not one this route explains
        return False
