"""Performance of multiclass models per window: realized from late labels, estimated before they
arrive from the logged class probabilities.

DuckDB counts each window's labelled rows per (actual, predicted) class with their summed log
loss, and sums each class's probability over the rows of each predicted class; every metric is
then NumPy over those small arrays (core.metrics.multiclass_metrics).

The estimate trusts the logged probabilities to be calibrated: the expected confusion matrix's
entry (actual j, predicted i) is the sum of p_j over the rows predicted i, and the metrics read
from it are the estimated ones (expected log loss: the mean entropy of the rows). Bands around
an estimate hold about 95% of windows whose labels behave as the probabilities say:
- accuracy: each row is right with probability p (its predicted class's probability), so the
  count of right rows is Poisson-binomial with variance sum p(1 - p); band = estimate ± 2 sd / n.
- log loss: a row's loss -ln p_Y has variance sum_j p_j ln² p_j - H² (H the row's entropy);
  band = estimate ± 2 sd / n.
- F1, precision and recall: the 2.5th to 97.5th percentiles of the metric over draws where each
  predicted class's rows split among actual classes multinomially by their mean probabilities
  (treating a predicted class's rows alike, which widens the band a little).
lower and upper, as for binary models, are the reference's value ± 3 standard errors at the
window's sample size (binomial, sqrt(v(1 - v) / n)), and a window outside them raises the alert;
log loss and per-class metrics are not judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.metrics import multiclass_metrics, multiclass_rates
from core.monitoring.windows import WindowSpec
from core.registry import classes as multiclass
from core.store import Model, ModelVersion, Work, log_tables

MIN_LABELLED = 100  # as for binary models: fewer labels say too little to confirm or clear a loss
Z = 3.0  # the reference's normal range, as for binary models
ESTIMATE_Z = 2.0  # about 95% of windows
DRAWS = 400
JUDGED = ("accuracy", "macro_f1", "weighted_f1")
COLUMNS = [
    "window_start",
    "window_end",
    "n",
    "n_labeled",
    "metric",
    "estimated",
    "realized",
    "lower",
    "upper",
    "alert",
    "estimated_lower",
    "estimated_upper",
]


def _outputs(version: ModelVersion) -> multiclass.ClassOutputs:
    found = multiclass.class_outputs(version)
    if found is None:
        raise ValueError(f"version {version.version} is not a multiclass version")
    return found


def labelled_class_logs(
    model: Model, version: ModelVersion, spec: WindowSpec
) -> tuple[str, list[Any]]:
    """SQL of the version's logs with their window key and label (NULL until it arrives)."""
    assert model.id is not None
    # The window key is computed before the join: chunks of rows number them by ts and
    # request_id, which the label table has too.
    return (
        f"(SELECT q.*, l.y FROM (SELECT *, {spec.key_sql()} AS __w "
        f"FROM {log_tables.pred_table(model.id)} WHERE version = ?) q "
        "LEFT JOIN label l ON l.model_id = ? AND l.request_id = q.request_id)",
        [version.version, model.id],
    )


@dataclass(frozen=True)
class _Window:
    w: Any  # the window's key in the source's __w
    window_start: Any
    window_end: Any
    n: int
    n_labeled: int


def _counted(w: Work, model: Model, version: ModelVersion, spec: WindowSpec) -> tuple[Any, ...]:
    """The classes, the windows, and per window the realized and the expected class counts."""
    outputs = _outputs(version)
    source, params = labelled_class_logs(model, version, spec)
    realized = multiclass.class_counts(
        w, source=source, params=params, group="__w", outputs=outputs
    )
    return (
        list(outputs.probabilities),
        _windows(w, source, params, spec),
        realized,
        _expected_counts(w, source, params, outputs),
    )


def _windows(w: Work, source: str, params: list[Any], spec: WindowSpec) -> list[_Window]:
    start, end = spec.bounds_sql()
    found = w.rows(
        f"SELECT __w, {start}, {end}, count(*), count(y) FROM {source} GROUP BY __w ORDER BY __w",
        params,
    )
    return [_Window(key, lo, hi, int(n), int(labelled)) for key, lo, hi, n, labelled in found]


def _expected_counts(
    w: Work, source: str, params: list[Any], outputs: multiclass.ClassOutputs
) -> pd.DataFrame:
    """Per window and predicted class: rows, each class's summed probability (e0, e1, ...),
    sum p(1 - p) of the predicted class, and the rows' summed entropy and loss variance."""
    probs = [f.column for f in outputs.probabilities.values()]
    eps = multiclass.EPS
    logs = [f"ln(greatest({p}, {eps!r}))" for p in probs]
    entropy = " + ".join(f"-{p} * {lg}" for p, lg in zip(probs, logs, strict=True))
    second = " + ".join(f"{p} * {lg} * {lg}" for p, lg in zip(probs, logs, strict=True))
    sums = ", ".join(f"sum({p}) AS e{i}" for i, p in enumerate(probs))
    position = multiclass.class_position_sql(outputs.predicted.column, list(outputs.probabilities))
    return w.frame(
        f"SELECT __w AS g, {position} AS predicted, count(*) AS n, {sums}, "
        "sum(score * (1 - score)) AS right_var, sum(h) AS entropy, sum(m2 - h * h) AS loss_var "
        f"FROM (SELECT *, {entropy} AS h, {second} AS m2 FROM {source}) GROUP BY ALL",
        params,
    )


def confusion_by_window(
    w: Work, *, model: Model, version: ModelVersion, spec: WindowSpec
) -> pd.DataFrame:
    """One row per window, actual and predicted class: labelled rows (realized) and the sum of
    the actual class's probability over all rows predicted so (expected)."""
    names, wins, realized, expected = _counted(w, model, version, spec)
    rows = []
    for win in wins:
        matrix, _ = multiclass.confusion(realized[realized["g"] == win.w], len(names))
        exp, _, _, _ = _expected(expected[expected["g"] == win.w], len(names))
        for j, actual in enumerate(names):
            for i, predicted in enumerate(names):
                rows.append(
                    {
                        "window_start": win.window_start,
                        "window_end": win.window_end,
                        "actual": actual,
                        "predicted": predicted,
                        "realized": int(matrix[j, i]),
                        "expected": float(exp[j, i]),
                    }
                )
    return pd.DataFrame(
        rows, columns=["window_start", "window_end", "actual", "predicted", "realized", "expected"]
    )


def realized_by_window(
    w: Work, *, model: Model, version: ModelVersion, spec: WindowSpec
) -> pd.DataFrame:
    """Realized metrics of every window with labels, however few: one row per window and
    metric with the labelled rows it was measured on."""
    outputs = _outputs(version)
    names = list(outputs.probabilities)
    source, params = labelled_class_logs(model, version, spec)
    wins = _windows(w, source, params, spec)
    realized = multiclass.class_counts(
        w, source=source, params=params, group="__w", outputs=outputs
    )
    rows = []
    for win in (found for found in wins if found.n_labeled):
        counts, loss = multiclass.confusion(realized[realized["g"] == win.w], len(names))
        for metric, value in multiclass_metrics(counts, loss, names).items():
            rows.append((win.window_start, win.window_end, int(win.n_labeled), metric, value))
    return pd.DataFrame(
        rows, columns=["window_start", "window_end", "n_labeled", "metric", "realized"]
    )


def _expected(counts: pd.DataFrame, k: int) -> tuple[np.ndarray, float, float, float]:
    """The expected confusion matrix (actual x predicted), sum p(1 - p) of the predicted
    classes, the summed entropy and the summed variance of the rows' log loss."""
    matrix = np.zeros((k, k))
    sums = counts[[f"e{j}" for j in range(k)]].to_numpy(float)  # one row per predicted class
    matrix[:, counts["predicted"].to_numpy(int)] = sums.T
    return (
        matrix,
        float(counts["right_var"].sum()),
        float(counts["entropy"].sum()),
        float(counts["loss_var"].sum()),
    )


def estimated_metrics(
    matrix: np.ndarray, *, right_var: float, entropy: float, loss_var: float, names: list[str]
) -> dict[str, tuple[float | None, float, float]]:
    """Each metric estimated from the expected confusion MATRIX, with its band (see above)."""
    n = float(matrix.sum())
    centre = multiclass_metrics(matrix, entropy, names)
    out: dict[str, tuple[float | None, float, float]] = {}
    sd = math.sqrt(right_var) / n
    out["accuracy"] = _within(centre["accuracy"], sd, 0.0, 1.0)
    out["log_loss"] = _within(centre["log_loss"], math.sqrt(max(loss_var, 0.0)) / n, 0.0, math.inf)
    draws = _drawn_metrics(matrix, names)
    for metric, value in centre.items():
        if metric not in out:
            lo, hi = np.percentile(draws[metric], [2.5, 97.5])
            out[metric] = (value, float(lo), float(hi))
    return out


def _within(
    value: float | None, sd: float, lo: float, hi: float
) -> tuple[float | None, float, float]:
    if value is None:
        return None, math.nan, math.nan
    return value, max(value - ESTIMATE_Z * sd, lo), min(value + ESTIMATE_Z * sd, hi)


def _drawn_metrics(matrix: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Metrics over DRAWS confusion matrices drawn as the expected one says (seeded: the same
    logs give the same band)."""
    rng = np.random.default_rng(19)
    k = len(names)
    rows = matrix.sum(axis=0)  # rows per predicted class
    shares = np.divide(matrix, rows, out=np.full_like(matrix, 1.0 / k), where=rows > 0)
    shares = shares / shares.sum(axis=0)
    drawn = np.stack(
        [rng.multinomial(int(round(rows[i])), shares[:, i], size=DRAWS) for i in range(k)], axis=2
    )  # draw, actual, predicted
    return multiclass_rates(drawn, names)


def performance_by_window(
    w: Work, *, model: Model, version: ModelVersion, spec: WindowSpec
) -> pd.DataFrame:
    """One row per window and metric: estimated with its band, realized (None below
    MIN_LABELLED labels), the reference's normal range and the alert."""
    names, wins, realized, expected = _counted(w, model, version, spec)
    reference = version.metrics
    rows = []
    for win in wins:
        matrix, right_var, entropy, loss_var = _expected(
            expected[expected["g"] == win.w], len(names)
        )
        estimate = estimated_metrics(
            matrix, right_var=right_var, entropy=entropy, loss_var=loss_var, names=names
        )
        measured = None
        if win.n_labeled >= MIN_LABELLED:
            counts, loss = multiclass.confusion(realized[realized["g"] == win.w], len(names))
            measured = multiclass_metrics(counts, loss, names)
        measured_on = win.n_labeled if measured is not None else win.n
        for metric, (value, est_lo, est_hi) in estimate.items():
            centre = reference.get(metric) if metric in JUDGED else None
            lower = upper = math.nan
            if centre is not None:
                se = math.sqrt(centre * (1 - centre) / max(measured_on, 1))
                lower, upper = max(centre - Z * se, 0.0), min(centre + Z * se, 1.0)
            got = None if measured is None else measured.get(metric)
            judged = got if got is not None else value
            rows.append(
                {
                    "window_start": win.window_start,
                    "window_end": win.window_end,
                    "n": int(win.n),
                    "n_labeled": int(win.n_labeled),
                    "metric": metric,
                    "estimated": value,
                    "realized": got,
                    "lower": _clean(lower),
                    "upper": _clean(upper),
                    "alert": bool(judged is not None and not math.isnan(lower) and judged < lower),
                    "estimated_lower": _clean(est_lo),
                    "estimated_upper": _clean(est_hi),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def _clean(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
