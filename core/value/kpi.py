"""Model metrics in money: value per decision at the operating threshold, over time and overall.

Binary: every decision lands in one cell of the confusion matrix and earns that cell's value
(business case value_tp/fp/tn/fn). Realized value uses labels; estimated value uses the
scores mapped through the reference calibration (the expected confusion matrix), so it is
available before labels arrive. Bands are ±2 standard errors of the mean value per decision.
The threshold curve is aggregated by score bin in DuckDB and evaluated for every bin edge at
once. Regression: each decision costs cost_under per unit predicted too low and cost_over
per unit predicted too high.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.monitoring.performance import binary_counts, labelled_logs
from core.monitoring.performance_statistics import calibrator, dense
from core.monitoring.windows import WindowSpec
from core.store import Model, ModelVersion, Work, log_tables
from core.value import value_days
from core.value.business_case import BusinessCase, current
from core.value.decision_counts import (
    CURVE_BINS,
    curve_counts,
    decision_overall,
    decision_windows,
    regression_cost_sql,
    regression_overall,
)

Z = 2.0
# A period's outcomes count (and can judge an estimate) from this many on, when their band is
# at most ±JUDGE_SHARE of what separates the best from the worst decision.
MIN_OUTCOMES = 100
JUDGE_SHARE = 0.05
# Where the decisions per period come from.
BUSINESS_CASE_VOLUME, LOGGED_AVERAGE = "business case", "production logs"


@dataclass(frozen=True)
class Summary:
    """KPI over all labelled production logs of a version."""

    threshold: float | None
    optimal_threshold: float | None
    value_per_decision_at_threshold: float | None
    value_per_decision_at_optimum: float | None
    n_labeled: int
    unit: str


@dataclass(frozen=True)
class ReferenceValue:
    """Value at the operating threshold on a version's reference (training/validation) rows.

    Decisions per period come from decisions_per_period (the business case's volume, else the
    average number logged per period); `reason` says why a figure is None."""

    threshold: float | None
    value_per_decision: float | None
    lower: float | None
    upper: float | None
    n_labeled: int
    decisions_per_period: float | None
    decisions_per_period_from: str | None
    value_per_period: float | None
    period: str
    unit: str
    reason: str | None


def cell_values(case: BusinessCase) -> np.ndarray:
    """What a true positive, false positive, true negative and false negative earn, in order."""
    return np.array(
        [case["value_tp"], case["value_fp"], case["value_tn"], case["value_fn"]], dtype=float
    )


def threshold_curve(pos: np.ndarray, neg: np.ndarray, case: BusinessCase) -> pd.DataFrame:
    """Value per decision if the threshold were at each bin edge (decide positive at ≥ t);
    POS and NEG are counts per bin as curve_counts gives them."""
    n = pos.sum() + neg.sum()
    thresholds = np.arange(CURVE_BINS + 1) / CURVE_BINS
    tp = np.cumsum(pos[::-1])[::-1]
    fp = np.cumsum(neg[::-1])[::-1]
    fn, tn = pos.sum() - tp, neg.sum() - fp
    v = cell_values(case)
    value = (tp * v[0] + fp * v[1] + tn * v[2] + fn * v[3]) / n if n else np.full_like(tp, np.nan)
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "value_per_decision": value,
            "tp": tp,
            "fp": fp,
            "tn": tn,
            "fn": fn,
        }
    )


def optimum(curve: pd.DataFrame) -> tuple[float, float]:
    """The threshold with the highest value per decision (the lowest such threshold on ties)."""
    best = int(curve["value_per_decision"].argmax())
    return float(curve["threshold"].iloc[best]), float(curve["value_per_decision"].iloc[best])


def summary(w: Work, *, model: Model, version: ModelVersion) -> Summary:
    """Threshold, optimum and value per decision over all labelled production logs."""
    case = current(model)
    if model.task == "regression":
        _, labelled, _, _, value, _ = regression_overall(w, model=model, version=version)
        return Summary(None, None, value, value, labelled, case["unit"])
    pos, neg = curve_counts(w, model=model, version=version)
    if pos.sum() + neg.sum() == 0:
        return Summary(case["threshold"], None, None, None, 0, case["unit"])
    curve = threshold_curve(pos, neg, case)
    best_t, best_v = optimum(curve)
    at = _value_at(w, model, version, case)
    return Summary(case["threshold"], best_t, at, best_v, int(pos.sum() + neg.sum()), case["unit"])


def _value_at(w: Work, model: Model, version: ModelVersion, case: BusinessCase) -> float | None:
    """Exact value per decision at the case's threshold (no binning)."""
    _, labelled, _, _, tp, fp, tn, fn = decision_overall(w, model=model, version=version)
    return float(np.array([tp, fp, tn, fn]) @ cell_values(case)) / labelled if labelled else None


def by_window(w: Work, *, model: Model, version: ModelVersion, spec: WindowSpec) -> pd.DataFrame:
    """Per window: decisions, labelled ones, realized and estimated value per decision with
    bands, the estimate over the labelled decisions alone (checked_estimate_*, to hold it to
    account), whether enough outcomes are in to count as measured, and the value per period
    (measured if so, else estimated) at decisions_per_period."""
    assert model.id is not None
    case = current(model)
    if model.task == "regression":
        return _regression_windows(w, model, version, spec, case)
    wins, cells = decision_windows(w, model=model, version=version, spec=spec)
    ref = dense(
        binary_counts(
            w,
            source=f"(SELECT y, score FROM {log_tables.ref_table(model.id)} WHERE version = ?)",
            params=[version.version],
            group="0",
        )
    )
    calibrate = calibrator(ref)  # None for a reference without outcomes: nothing to estimate
    v = cell_values(case)
    volume, _ = decisions_per_period(w, model=model)
    rows = []
    for win in wins.itertuples():
        part = cells[cells["w"] == win.w]
        realized = _cells_realized(part) if win.n_labeled else None
        row = {
            "window_start": win.window_start,
            "window_end": win.window_end,
            "n": int(win.n),
            "n_labeled": int(win.n_labeled),
        }
        row.update(value_band("realized", realized, v, win.n_labeled))
        if calibrate is None:
            row.update(value_band("estimated", None, v, win.n))
            row.update(value_band("checked_estimate", None, v, win.n_labeled))
        else:
            row.update(
                value_band("estimated", _cells_expected(part, calibrate, "n", "s"), v, win.n)
            )
            # The estimate over the very decisions whose outcomes are in, to hold it to account.
            labelled = _cells_expected(part, calibrate, "labelled", "s_labelled")
            row.update(value_band("checked_estimate", labelled, v, win.n_labeled))
        row["measured"] = enough_outcomes(
            model, win.n_labeled, row["realized_lower"], row["realized_upper"]
        )
        best = row["realized_value_per_decision"] if row["measured"] else None
        best = row["estimated_value_per_decision"] if best is None else best
        row["value_per_period"] = None if best is None or volume is None else best * volume
        row["value_in_window"] = None if best is None else best * win.n
        rows.append(row)
    return pd.DataFrame(rows)


def enough_outcomes(model: Model, n_labeled: int, lower: float | None, upper: float | None) -> bool:
    """Whether a period's outcomes measure its value closely enough to count and to judge an
    estimate by: at least MIN_OUTCOMES of them and, for binary models, a band no wider than
    ±JUDGE_SHARE of the spread between the best and the worst a decision can earn."""
    if n_labeled < MIN_OUTCOMES or lower is None or upper is None or pd.isna(lower):
        return False
    if model.task == "regression":
        return True
    v = cell_values(current(model))
    spread = float(v.max() - v.min())
    return spread == 0 or (upper - lower) / 2 <= JUDGE_SHARE * spread


def _cells_realized(part: pd.DataFrame) -> np.ndarray:
    up, down = part[part["side"]], part[~part["side"]]
    tp, fp = up["positives"].sum(), (up["labelled"] - up["positives"]).sum()
    fn, tn = down["positives"].sum(), (down["labelled"] - down["positives"]).sum()
    return np.array([tp, fp, tn, fn], dtype=float)


def _cells_expected(part: pd.DataFrame, calibrate: Any, count: str, total: str) -> np.ndarray:
    n = part[count].to_numpy(dtype=float)
    mean = np.divide(part[total].to_numpy(dtype=float), n, out=np.zeros_like(n), where=n > 0)
    p = calibrate(mean) * n
    q = n - p
    up = part["side"].to_numpy(dtype=bool)
    return np.array([p[up].sum(), q[up].sum(), q[~up].sum(), p[~up].sum()], dtype=float)


def value_band(prefix: str, cells: np.ndarray | None, v: np.ndarray, n: float) -> dict[str, Any]:
    """Mean value per decision of confusion CELLS worth V each, with its ±Z standard-error band
    over N decisions, as PREFIX_value_per_decision, PREFIX_lower and PREFIX_upper."""
    if cells is None or cells.sum() == 0:
        return {
            f"{prefix}_value_per_decision": None,
            f"{prefix}_lower": None,
            f"{prefix}_upper": None,
        }
    share = cells / cells.sum()
    mean = float(share @ v)
    se = math.sqrt(max(float(share @ (v**2)) - mean**2, 0.0) / max(n, 1))
    return {
        f"{prefix}_value_per_decision": mean,
        f"{prefix}_lower": mean - Z * se,
        f"{prefix}_upper": mean + Z * se,
    }


def _regression_windows(
    w: Work, model: Model, version: ModelVersion, spec: WindowSpec, case: BusinessCase
) -> pd.DataFrame:
    frame: Any
    if value_days.counted(w, model=model, version=version):
        frame = value_days.error_windows(w, model=model, version=version, spec=spec, case=case)
    else:
        source, params = labelled_logs(model, version, spec)
        start, end = spec.bounds_sql()
        cost = regression_cost_sql(case)
        frame = w.frame(
            f"SELECT {start} AS window_start, {end} AS window_end, count(*) AS n, "
            f"count(y) AS n_labeled, -avg({cost}) AS realized_value_per_decision, "
            f"stddev_samp({cost}) AS sd FROM {source} GROUP BY __w ORDER BY __w",
            params,
        )
    se = frame.pop("sd") / np.sqrt(frame["n_labeled"].clip(lower=1))
    frame["realized_lower"] = frame["realized_value_per_decision"] - Z * se
    frame["realized_upper"] = frame["realized_value_per_decision"] + Z * se
    frame["estimated_value_per_decision"] = None
    frame["estimated_lower"] = None
    frame["estimated_upper"] = None
    for name in ("checked_estimate_value_per_decision", "checked_estimate_lower",
                 "checked_estimate_upper"):  # fmt: skip
        frame[name] = None
    frame["measured"] = [
        enough_outcomes(model, int(r.n_labeled), r.realized_lower, r.realized_upper)
        for r in frame.itertuples()
    ]
    volume, _ = decisions_per_period(w, model=model)
    frame["value_per_period"] = frame["realized_value_per_decision"] * (volume or np.nan)
    frame["value_in_window"] = frame["realized_value_per_decision"] * frame["n"]
    return frame


def on_reference(w: Work, *, model: Model, version: ModelVersion) -> ReferenceValue:
    """Value per decision and per period at the operating threshold on the version's labelled
    reference rows, with a ±Z standard-error band."""
    assert model.id is not None
    case = current(model)
    rows = (
        f"(SELECT y, score FROM {log_tables.ref_table(model.id)} "
        "WHERE version = ? AND y IS NOT NULL)"
    )
    if model.task == "regression":
        cost = regression_cost_sql(case)
        n, mean, sd = w.rows(
            f"SELECT count(*), -avg({cost}), stddev_samp({cost}) FROM {rows}", [version.version]
        )[0]
        se = (sd or 0.0) / math.sqrt(max(n, 1))
        band = {
            "value_per_decision": mean,
            "lower": None if mean is None else mean - Z * se,
            "upper": None if mean is None else mean + Z * se,
        }
        threshold = None
    else:
        threshold = float(case["threshold"])
        # count(*) FILTER, not count_if: it is 0 over no rows, count_if is NULL.
        tp, fp, tn, fn = w.rows(
            "SELECT count(*) FILTER (up AND pos), count(*) FILTER (up AND NOT pos), "
            "count(*) FILTER (NOT up AND NOT pos), count(*) FILTER (NOT up AND pos) "
            f"FROM (SELECT score >= ? AS up, y = 1 AS pos FROM {rows})",
            [threshold, version.version],
        )[0]
        n = tp + fp + tn + fn
        found = value_band(
            "reference", np.array([tp, fp, tn, fn], dtype=float), cell_values(case), n
        )
        band = {k.removeprefix("reference_"): v for k, v in found.items()}
    volume, source = decisions_per_period(w, model=model)
    value = band["value_per_decision"]
    if value is None:
        reason = (
            f"the reference of v{version.version} has no outcomes (its target column is "
            "empty), so its value cannot be measured"
        )
    elif volume is None:
        reason = (
            "no decisions are logged in production yet and the business case sets no volume "
            "per period, so the value per period is unknown"
        )
    else:
        reason = None
    return ReferenceValue(
        threshold=threshold,
        value_per_decision=value,
        lower=band["lower"],
        upper=band["upper"],
        n_labeled=int(n),
        decisions_per_period=volume,
        decisions_per_period_from=source,
        value_per_period=None if value is None or volume is None else value * volume,
        period=case["period"],
        unit=case["unit"],
        reason=reason,
    )


def decisions_per_period(w: Work, *, model: Model) -> tuple[float | None, str | None]:
    """How many decisions a period holds, for every figure per period of every version: the
    business case's volume, else the average logged per period (periods with traffic, all
    versions: the volume is the business's, not a version's), else (None, None)."""
    assert model.id is not None
    case = current(model)
    if case["volume_per_period"]:
        return float(case["volume_per_period"]), BUSINESS_CASE_VOLUME
    if value_days.counted(w, model=model):
        found = value_days.decisions_per_period(w, model=model, period=case["period"])
        return (None, None) if found is None else (found, LOGGED_AVERAGE)
    key = WindowSpec.parse(case["period"]).key_sql()
    found = w.rows(
        f"SELECT count(*) / nullif(count(DISTINCT {key}), 0) FROM {log_tables.pred_table(model.id)}"
    )[0][0]
    return (None, None) if found is None else (float(found), LOGGED_AVERAGE)
