"""Model-quality metrics on labelled rows, for the reference and for production windows."""

from __future__ import annotations

import math
from typing import Any


def binary_metrics(y: Any, score: Any, threshold: float = 0.5) -> dict[str, float | None]:
    """ROC AUC, accuracy, precision, recall, F1, Brier score and positive rate."""
    import numpy as np  # imported on use, as scikit-learn: `versions` reads only KEY_METRICS
    from sklearn import metrics as skm  # imported on use: it costs seconds at CLI start-up

    y = np.asarray(y, dtype=float)
    score = np.asarray(score, dtype=float)
    if len(y) == 0:
        return {}
    decided = (score >= threshold).astype(int)
    both_classes = len(np.unique(y)) == 2
    return {
        "roc_auc": float(skm.roc_auc_score(y, score)) if both_classes else None,
        "accuracy": float(skm.accuracy_score(y, decided)),
        "precision": float(skm.precision_score(y, decided, zero_division=0)),
        "recall": float(skm.recall_score(y, decided, zero_division=0)),
        "f1": float(skm.f1_score(y, decided, zero_division=0)),
        "brier": float(skm.brier_score_loss(y, score)) if both_classes else None,
        "positive_rate": float(y.mean()),
    }


def regression_metrics(y: Any, prediction: Any) -> dict[str, float | None]:
    """MAE, RMSE, MAPE (over non-zero targets) and R²."""
    import numpy as np
    from sklearn import metrics as skm

    y = np.asarray(y, dtype=float)
    prediction = np.asarray(prediction, dtype=float)
    if len(y) == 0:
        return {}
    nonzero = y != 0
    mape = (
        float(np.mean(np.abs((y[nonzero] - prediction[nonzero]) / y[nonzero])))
        if nonzero.any()
        else None
    )
    return {
        "mae": float(skm.mean_absolute_error(y, prediction)),
        "rmse": float(math.sqrt(skm.mean_squared_error(y, prediction))),
        "mape": mape,
        "r2": float(skm.r2_score(y, prediction)) if len(y) > 1 else None,
    }


def multiclass_metrics(confusion: Any, loss: float, classes: list[str]) -> dict[str, float | None]:
    """Accuracy, macro and weighted F1, log loss and each class's precision and recall, from the
    confusion matrix CONFUSION (actual x predicted counts) and the rows' summed log loss LOSS."""
    import numpy as np

    matrix = np.asarray(confusion, dtype=float)
    n = matrix.sum()
    if n == 0:
        return {}
    rates = multiclass_rates(matrix[None], classes)
    out: dict[str, float | None] = {m: float(v[0]) for m, v in rates.items()}
    out["log_loss"] = float(loss / n) if math.isfinite(loss) else None
    return out


def multiclass_rates(confusions: Any, classes: list[str]) -> dict[str, Any]:
    """multiclass_metrics but log loss, as arrays over a stack of confusion matrices
    (matrix, actual, predicted), each holding at least one row."""
    import numpy as np

    matrices = np.asarray(confusions, dtype=float)
    n = matrices.sum(axis=(1, 2))
    hits = np.einsum("mii->mi", matrices)
    predicted, actual = matrices.sum(axis=1), matrices.sum(axis=2)
    # A class never predicted (or never seen) scores 0, as scikit-learn's zero_division=0.
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    out = {
        "accuracy": hits.sum(axis=1) / n,
        "macro_f1": f1.mean(axis=1),
        "weighted_f1": (f1 * actual).sum(axis=1) / n,
    }
    for i, name in enumerate(classes):
        out[f"precision:{name}"] = precision[:, i]
        out[f"recall:{name}"] = recall[:, i]
    return out


# Metric names as people read them.
METRIC_WORDS = {
    "roc_auc": "AUC",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
    "accuracy": "accuracy",
    "calibration_error": "calibration error",
    "mae": "mean absolute error",
    "rmse": "RMSE",
    "mape": "MAPE",
    "macro_f1": "macro F1",
    "weighted_f1": "weighted F1",
    "log_loss": "log loss",
}

KEY_METRICS = {
    "binary": ("roc_auc", "f1", "brier"),
    "regression": ("mae", "rmse", "r2"),
    "multiclass": ("accuracy", "macro_f1", "log_loss"),
}


def metric_name(metric: str) -> str:
    """A metric's name for people: 'AUC', 'macro F1'; a multiclass model's 'precision:high' is
    'precision of high'."""
    base, _, of = metric.partition(":")
    name = METRIC_WORDS.get(base, base.replace("_", " "))
    return f"{name} of {of}" if of else name
