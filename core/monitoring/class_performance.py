"""Performance of multiclass models per window: realized from late labels, estimated before they
arrive from the logged class probabilities.

DuckDB counts each window's labelled rows per (actual, predicted) class with their summed log
loss, and sums each class's probability over the rows of each predicted class; every metric is
then NumPy over those small arrays (core.metrics.multiclass_metrics). A team store sums the
same counts from its day tables instead (core.monitoring.class_days) when they hold.

The estimate reads the logged probabilities through a calibration learnt on the version's
labelled reference rows (core.monitoring.class_calibration, NannyML's one-vs-rest isotonic maps,
renormalised): with q the calibrated probabilities, the expected confusion matrix's entry
(actual j, predicted i) is the sum of q_j over the rows predicted i, every metric estimated is
read from it, and the expected log loss (of the logged probabilities) is the mean over rows of
-sum_j q_j ln p_j. Each row of the frame says how the probabilities were read (estimate_basis).
Bands around an estimate hold about 95% of windows whose labels behave as the calibrated
probabilities say, widened by what the calibration could not learn from the reference:
- accuracy: each row is right with probability q (its predicted class's), so the count of right
  rows is Poisson-binomial with variance sum q(1 - q); the share right of each predicted class
  was learnt on the m_i labelled reference rows predicted so, which adds n_i² a_i(1 - a_i) /
  (m_i + 1) (n_i rows predicted i, a_i their expected share right, pulled towards 1/2 as
  (m_i a_i + 1) / (m_i + 2)); band = estimate ± 2 sd / n.
- log loss: a row's loss -ln p_Y has variance sum_j q_j ln² p_j - (sum_j q_j ln p_j)²;
  band = estimate ± 2 sd / n.
- F1, precision and recall: the 2.5th to 97.5th percentiles of the metric over draws where each
  predicted class's rows split among actual classes multinomially, by shares drawn from a
  Dirichlet around their mean calibrated probabilities as wide as m_i rows leave them (treating
  a predicted class's rows alike, which widens the band a little).
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
from core.monitoring import class_days
from core.monitoring.class_calibration import ClassCalibration, fit_class_calibration
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
    "estimate_basis",
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
    """The classes, the windows, and per window the realized and the expected class counts:
    summed from a team store's day counts where they hold (core.monitoring.class_days), else
    counted from the logs."""
    outputs = _outputs(version)
    names = list(outputs.probabilities)
    calibration = fit_class_calibration(w, model=model, version=version, outputs=outputs)
    if class_days.counted(w, model=model, version=version, spec=spec, calibration=calibration):
        sums = class_days.class_windows(w, model=model, version=version, spec=spec, k=len(names))
        return names, _counted_windows(sums), sums.realized, sums.expected, calibration
    source, params = labelled_class_logs(model, version, spec)
    realized = multiclass.class_counts(
        w, source=source, params=params, group="__w", outputs=outputs
    )
    return (
        names,
        _windows(w, source, params, spec),
        realized,
        _expected_counts(w, source, params, outputs, calibration),
        calibration,
    )


def _realized(
    w: Work, model: Model, version: ModelVersion, spec: WindowSpec
) -> tuple[list[_Window], pd.DataFrame]:
    """The windows and their realized class counts, from the day counts or the logs."""
    outputs = _outputs(version)
    if class_days.counted(w, model=model, version=version, spec=spec, calibration=None):
        k = len(outputs.probabilities)
        sums = class_days.class_windows(w, model=model, version=version, spec=spec, k=k)
        return _counted_windows(sums), sums.realized
    source, params = labelled_class_logs(model, version, spec)
    realized = multiclass.class_counts(
        w, source=source, params=params, group="__w", outputs=outputs
    )
    return _windows(w, source, params, spec), realized


def _counted_windows(sums: class_days.ClassSums) -> list[_Window]:
    return [
        _Window(key, lo, hi, int(n), int(labelled))
        for key, lo, hi, n, labelled in sums.windows.itertuples(index=False, name=None)
    ]


def _windows(w: Work, source: str, params: list[Any], spec: WindowSpec) -> list[_Window]:
    start, end = spec.bounds_sql()
    found = w.rows(
        f"SELECT __w, {start}, {end}, count(*), count(y) FROM {source} GROUP BY __w ORDER BY __w",
        params,
    )
    return [_Window(key, lo, hi, int(n), int(labelled)) for key, lo, hi, n, labelled in found]


def _expected_counts(
    w: Work,
    source: str,
    params: list[Any],
    outputs: multiclass.ClassOutputs,
    calibration: ClassCalibration,
) -> pd.DataFrame:
    """Per window and predicted class: rows, each class's summed calibrated probability (e0,
    e1, ...), sum q(1 - q) of the predicted class's, and the rows' summed expected log loss
    and its variance (the loss is of the logged probabilities, the expectation over the
    calibrated ones)."""
    names = list(outputs.probabilities)
    probs = [f.column for f in outputs.probabilities.values()]
    calibrated = calibration.probabilities_sql(probs)
    q = [f"__q{j}" for j in range(len(probs))]
    eps = multiclass.EPS
    logs = [f"ln(least(greatest({p}, {eps!r}), {1 - eps!r}))" for p in probs]
    loss = " + ".join(f"-{c} * {lg}" for c, lg in zip(q, logs, strict=True))
    second = " + ".join(f"{c} * {lg} * {lg}" for c, lg in zip(q, logs, strict=True))
    sums = ", ".join(f"sum({c}) AS e{j}" for j, c in enumerate(q))
    position = multiclass.class_position_sql(outputs.predicted.column, names)
    right = " ".join(f"WHEN {j} THEN {c}" for j, c in enumerate(q))
    mapped = ", ".join(f"{c} AS {name}" for c, name in zip(calibrated, q, strict=True))
    return w.frame(
        f"SELECT __w AS g, __pred AS predicted, count(*) AS n, {sums}, "
        "sum(r * (1 - r)) AS right_var, sum(h) AS entropy, sum(m2 - h * h) AS loss_var "
        f"FROM (SELECT *, CASE __pred {right} END AS r, {loss} AS h, {second} AS m2 "
        f"FROM (SELECT *, {position} AS __pred, {mapped} FROM {source}) m) e GROUP BY 1, 2",
        params,
    )


def confusion_by_window(
    w: Work, *, model: Model, version: ModelVersion, spec: WindowSpec
) -> pd.DataFrame:
    """One row per window, actual and predicted class: labelled rows (realized) and the sum of
    the actual class's probability over all rows predicted so (expected)."""
    names, wins, realized, expected, _ = _counted(w, model, version, spec)
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
    names = list(_outputs(version).probabilities)
    wins, realized = _realized(w, model, version, spec)
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
    matrix: np.ndarray,
    *,
    right_var: float,
    entropy: float,
    loss_var: float,
    names: list[str],
    learnt_on: np.ndarray,
) -> dict[str, tuple[float | None, float, float]]:
    """Each metric estimated from the expected confusion MATRIX, with its band (see above);
    LEARNT_ON: the labelled reference rows of each predicted class the calibration rests on."""
    n = float(matrix.sum())
    centre = multiclass_metrics(matrix, entropy, names)
    out: dict[str, tuple[float | None, float, float]] = {}
    rows = matrix.sum(axis=0)  # rows per predicted class
    right = np.divide(np.diag(matrix), rows, out=np.zeros_like(rows), where=rows > 0)
    # Without outcomes on the reference nothing was learnt, and the probabilities are trusted.
    # The share right as learnt on m rows, pulled towards 1/2 by one right and one wrong row
    # (Laplace): m rows all right do not prove a class is never wrong.
    shrunk = (right * learnt_on + 1.0) / (learnt_on + 2.0)
    learnt = np.where(learnt_on > 0, rows**2 * shrunk * (1 - shrunk) / (learnt_on + 1.0), 0.0)
    sd = math.sqrt(right_var + float(learnt.sum())) / n
    out["accuracy"] = _within(centre["accuracy"], sd, 0.0, 1.0)
    out["log_loss"] = _within(centre["log_loss"], math.sqrt(max(loss_var, 0.0)) / n, 0.0, math.inf)
    draws = _drawn_metrics(matrix, names, learnt_on)
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


def _drawn_metrics(
    matrix: np.ndarray, names: list[str], learnt_on: np.ndarray
) -> dict[str, np.ndarray]:
    """Metrics over DRAWS confusion matrices drawn as the expected one says, each predicted
    class's shares first drawn as uncertain as LEARNT_ON rows leave them (seeded: the same
    logs give the same band)."""
    rng = np.random.default_rng(19)
    k = len(names)
    rows = matrix.sum(axis=0)  # rows per predicted class
    shares = np.divide(matrix, rows, out=np.full_like(matrix, 1.0 / k), where=rows > 0)
    shares = shares / shares.sum(axis=0)
    drawn = np.stack(
        [_compound(rng, int(round(rows[i])), shares[:, i], float(learnt_on[i])) for i in range(k)],
        axis=2,
    )  # draw, actual, predicted
    return multiclass_rates(drawn, names)


def _compound(rng: np.random.Generator, n: int, shares: np.ndarray, learnt_on: float) -> Any:
    """DRAWS multinomial splits of N rows, their shares drawn from a Dirichlet around SHARES as
    wide as a rate learnt on LEARNT_ON rows (var s(1 - s) / (LEARNT_ON + 1))."""
    alpha = np.maximum(shares * learnt_on, 1e-9)
    drawn = rng.dirichlet(alpha, size=DRAWS) if learnt_on > 0 else np.tile(shares, (DRAWS, 1))
    return np.stack([rng.multinomial(n, p / p.sum()) for p in drawn])


def performance_by_window(
    w: Work, *, model: Model, version: ModelVersion, spec: WindowSpec
) -> pd.DataFrame:
    """One row per window and metric: estimated with its band, realized (None below
    MIN_LABELLED labels), the reference's normal range and the alert."""
    names, wins, realized, expected, calibration = _counted(w, model, version, spec)
    learnt_on = np.array(calibration.learnt_on, dtype=float)
    basis = calibration.basis()
    reference = version.metrics
    rows = []
    for win in wins:
        matrix, right_var, entropy, loss_var = _expected(
            expected[expected["g"] == win.w], len(names)
        )
        estimate = estimated_metrics(
            matrix,
            right_var=right_var,
            entropy=entropy,
            loss_var=loss_var,
            names=names,
            learnt_on=learnt_on,
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
                    "estimate_basis": basis,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def _clean(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
