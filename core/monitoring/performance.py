"""Model performance per window: realized from late labels, estimated before they arrive.

Binary models: each window's rows are counted per score bin in DuckDB (with the labelled
ones split by outcome), so ROC AUC, the confusion matrix at the threshold and calibration all
come from small arrays (core.monitoring.performance_statistics). The estimate (confidence-based: the
expected confusion matrix) maps each bin's mean score through an isotonic calibration fitted on the
reference, so it is available for every window, labelled or not. Regression models get MAE,
RMSE and MAPE, and MAE and RMSE are estimated from the inputs and predictions by error models
fitted on the reference (core.monitoring.regression_estimate).
The band is the reference value ± 3 standard errors at the window's sample size. Realized
calibration error is the size of each group's miss, so label noise alone raises it on small
windows: its band is centred where a window calibrated like the reference would land.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from core.monitoring import class_performance
from core.monitoring.performance_statistics import (
    SCORE_BINS,
    calibration_band,
    calibration_groups,
    calibrator,
    dense,
    estimated_binary,
    realized_binary,
    standard_error,
)
from core.monitoring.regression_estimate import estimated_errors, fit_error_models
from core.monitoring.stored_days import CountedWindows, counted
from core.monitoring.windows import WindowSpec
from core.store import Model, ModelVersion, Work, log_tables

# Below this many labels a window's realized metrics are too noisy to confirm or clear a loss
# (ROC AUC's standard error on 100 rows is already about 0.05).
MIN_LABELLED = 100
Z = 3.0
BINARY_METRICS = ("roc_auc", "precision", "recall", "f1", "accuracy", "calibration_error")
REGRESSION_METRICS = ("mae", "rmse", "mape")
LOWER_IS_BETTER = {"calibration_error", "mae", "rmse", "mape"}
# Where each metric can lie: a ±Z standard-error band on few rows would reach past these.
RANGES = {
    **dict.fromkeys(("roc_auc", "precision", "recall", "f1", "accuracy"), (0.0, 1.0)),
    "calibration_error": (0.0, 1.0),  # a mean gap between a probability and a rate
    **dict.fromkeys(REGRESSION_METRICS, (0.0, math.inf)),
}
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
]


def threshold_of(model: Model) -> float:
    """The operating threshold: the business case's, else 0.5."""
    return float(model.settings.get("business_case", {}).get("threshold", 0.5))


def bin_sql(column: str) -> str:
    return f"least(greatest(floor({column} * {SCORE_BINS}), 0), {SCORE_BINS - 1})::INTEGER"


def binary_counts(w: Work, *, source: str, params: list[Any], group: str) -> pd.DataFrame:
    """Per group and score bin: n, score sum, labelled rows and positives."""
    return w.frame(
        f"SELECT {group} AS g, {bin_sql('score')} AS bin, count(*) AS n, sum(score) AS s, "
        "count(y) AS labelled, sum(y) AS positives "
        f"FROM {source} GROUP BY ALL",
        params,
    )


def labelled_logs(model: Model, version: ModelVersion, spec: WindowSpec) -> tuple[str, list]:
    """SQL of the version's logs with their window key and label (NULL until it arrives)."""
    assert model.id is not None
    source = (
        f"(SELECT q.*, l.y FROM (SELECT ts, request_id, score, {spec.key_sql()} AS __w "
        f"FROM {log_tables.pred_table(model.id)} WHERE version = ?) q "
        "LEFT JOIN label l ON l.model_id = ? AND l.request_id = q.request_id)"
    )
    return source, [version.version, model.id]


def performance_by_window(
    w: Work, *, model: Model, version: ModelVersion, spec: WindowSpec
) -> pd.DataFrame:
    """One row per window and metric: estimated, realized (None without labels), band, alert."""
    assert model.id is not None
    if model.task == "regression":
        return _regression(w, model, version, spec)
    if model.task == "multiclass":
        return class_performance.performance_by_window(w, model=model, version=version, spec=spec)
    threshold = threshold_of(model)
    ref_frame = binary_counts(
        w,
        source=f"(SELECT y, score FROM {log_tables.ref_table(model.id)} WHERE version = ?)",
        params=[version.version],
        group="0",
    )
    ref = dense(ref_frame)
    groups = calibration_groups(ref)
    # A reference without outcomes gives no calibration and no normal range: production labels
    # are still measured, but nothing is estimated or judged against the reference.
    calibrate = calibrator(ref)
    has_outcomes = calibrate is not None
    reference = (
        realized_binary(ref, threshold, groups)
        if has_outcomes
        else dict.fromkeys(BINARY_METRICS, math.nan)
    )
    prevalence = ref.positives.sum() / max(ref.labelled.sum(), 1)
    flagged = ref.n[np.arange(SCORE_BINS) / SCORE_BINS >= threshold - 1e-12].sum() / ref.n.sum()
    wins, per_bin = _window_counts(w, model, version, spec)
    grouped = dict(tuple(per_bin.groupby("g")))
    rows = []
    for win in wins.itertuples():
        counts = dense(grouped[win.w])
        estimated = (
            estimated_binary(counts, calibrate, threshold, groups)
            if calibrate is not None
            else dict.fromkeys(BINARY_METRICS)
        )
        realized = (
            realized_binary(counts, threshold, groups) if win.n_labeled >= MIN_LABELLED else None
        )
        for metric in BINARY_METRICS:
            if not has_outcomes:
                centre, se = math.nan, math.nan
            elif metric == "calibration_error" and realized is not None:
                centre, se = calibration_band(ref, groups, win.n_labeled)
            else:
                measured_on = win.n_labeled if realized is not None else win.n
                centre = reference[metric]
                se = standard_error(metric, centre, measured_on, prevalence, flagged)
            rows.append(
                _row(
                    win,
                    metric,
                    estimated[metric],
                    None if realized is None else realized[metric],
                    centre,
                    se,
                )
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def _window_counts(
    w: Work, model: Model, version: ModelVersion, spec: WindowSpec
) -> tuple[Any, pd.DataFrame]:
    """The windows (w, bounds, n, n_labeled) and their score bins (binary_counts' columns),
    from a team store's day counts where it keeps them, else from the logs."""
    assert model.id is not None
    if counted(w, model_id=model.id, version=version.version, spec=spec):
        windows = CountedWindows.of(w, model_id=model.id, version=version.version, spec=spec)
        per_bin = windows.scores(w)
        labelled = per_bin.groupby("g")["labelled"].sum()
        wins = windows.plan.windows.assign(
            n_labeled=lambda f: f["w"].map(labelled).fillna(0).astype("int64")
        )
        return wins, per_bin
    start, end = spec.bounds_sql()
    source, params = labelled_logs(model, version, spec)
    wins = w.frame(
        f"SELECT __w AS w, {start} AS window_start, {end} AS window_end, count(*) AS n, "
        f"count(y) AS n_labeled FROM {source} GROUP BY __w ORDER BY __w",
        params,
    )
    return wins, binary_counts(w, source=source, params=params, group="__w")


def _row(
    win: Any,
    metric: str,
    estimated: float | None,
    realized: float | None,
    centre: float,
    se: float,
) -> dict[str, Any]:
    lower, upper = band(metric, centre, se)
    judged = realized if realized is not None else estimated
    if judged is None or math.isnan(judged) or math.isnan(se):
        alert = False
    elif metric in LOWER_IS_BETTER:
        alert = judged > upper
    else:
        alert = judged < lower
    return {
        "window_start": win.window_start,
        "window_end": win.window_end,
        "n": int(win.n),
        "n_labeled": int(win.n_labeled),
        "metric": metric,
        "estimated": _clean(estimated),
        "realized": _clean(realized),
        "lower": _clean(lower),
        "upper": _clean(upper),
        "alert": bool(alert),
    }


def band(metric: str, centre: float, se: float) -> tuple[float, float]:
    """CENTRE ± Z standard errors, clipped to the metric's range (NaN stays NaN)."""
    lo, hi = RANGES[metric]
    return float(np.clip(centre - Z * se, lo, hi)), float(np.clip(centre + Z * se, lo, hi))


def realized_note(perf: pd.DataFrame) -> str | None:
    """Why windows of PERF have no realized value (too few labels), or None if none lacks one."""
    windows = perf.drop_duplicates("window_start")
    short = int((windows["n_labeled"] < MIN_LABELLED).sum())
    if not short:
        return None
    return (
        f"Realized values need at least {MIN_LABELLED} labels per window; "
        f"{short} of {len(windows)} {'window has' if len(windows) == 1 else 'windows have'} "
        "fewer, so only the estimate is shown there."
    )


def _clean(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _regression(w: Work, model: Model, version: ModelVersion, spec: WindowSpec) -> pd.DataFrame:
    def errors(source: str, params: list[Any], group: str) -> pd.DataFrame:
        return w.frame(
            f"SELECT {group} AS w, count(*) AS n, count(y) AS n_labeled, "
            "avg(abs(y - score)) AS mae, sqrt(avg((y - score) ^ 2)) AS rmse, "
            "avg(abs((y - score) / y)) FILTER (WHERE y <> 0) AS mape, "
            "stddev_samp(abs(y - score)) AS sd_abs, stddev_samp((y - score) ^ 2) AS sd_sq, "
            "stddev_samp(abs((y - score) / y)) FILTER (WHERE y <> 0) AS sd_pct "
            f"FROM {source} GROUP BY ALL",
            params,
        )

    assert model.id is not None
    ref = errors(
        f"(SELECT y, score FROM {log_tables.ref_table(model.id)} WHERE version = ?)",
        [version.version],
        "0",
    ).iloc[0]
    start, end = spec.bounds_sql()
    source, params = labelled_logs(model, version, spec)
    wins = w.frame(
        f"SELECT __w AS w, {start} AS window_start, {end} AS window_end FROM {source} "
        "GROUP BY __w ORDER BY __w",
        params,
    )
    per = wins.merge(errors(source, params, "__w"), on="w")
    error_models = fit_error_models(w, model=model, version=version)
    if error_models is not None:
        found = estimated_errors(w, model=model, version=version, spec=spec, errors=error_models)
        found = found.rename(columns={"mae": "est_mae", "rmse": "est_rmse"})
        per = per.merge(found, on="w", how="left")
    spread = {"mae": ref["sd_abs"], "rmse": ref["sd_sq"], "mape": ref["sd_pct"]}
    rows = []
    for win in per.itertuples():
        enough = win.n_labeled >= MIN_LABELLED
        # Judged on labels, the band is drawn for the labelled rows; judged on the estimate,
        # for all of the window's rows, as for binary models.
        measured_on = win.n_labeled if enough else win.n
        for metric in REGRESSION_METRICS:
            base = ref[metric]
            sd = math.nan if pd.isna(spread[metric]) else float(spread[metric])
            if metric == "rmse":  # delta method: sd of the mean square error, then the root
                se = sd / max(math.sqrt(measured_on), 1.0) / max(2 * base, 1e-12)
            else:
                se = sd / max(math.sqrt(measured_on), 1.0)
            realized = getattr(win, metric) if enough else None
            estimated = getattr(win, f"est_{metric}", None)
            rows.append(
                _row(
                    win,
                    metric,
                    None if estimated is None or pd.isna(estimated) else float(estimated),
                    None if realized is None or pd.isna(realized) else float(realized),
                    float("nan") if pd.isna(base) else float(base),
                    float("nan") if pd.isna(se) else float(se),
                )
            )
    return pd.DataFrame(rows, columns=COLUMNS)
