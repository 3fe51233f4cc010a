"""The business value figures' counts read from a team store's per-day counts, not its logs.

A team store counts each day's decisions (core.aggregates.value_counts) into its catalog, so
dashboard replicas sum small tables instead of scanning Parquet logs. Each function here gives
what core.value.kpi and core.value.figures read from the logs, in the same shape. They answer
when `counted` says so: a team store whose model has no day waiting to be counted and whose
binary decisions were counted at the business case's current threshold; otherwise the logs
are read as on an embedded store.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from core.monitoring.windows import WindowSpec
from core.store import Model, ModelVersion, Work
from core.value.business_case import BusinessCase


def counted(
    w: Work, *, model: Model, version: ModelVersion | None = None, threshold: float = 0.5
) -> bool:
    """Whether the value figures of VERSION (None: the decisions per period, over every
    version) can be read from stored day counts (see the module's docstring)."""
    if w.space is None:
        return False
    waiting = w.catalog(
        "SELECT count(*) FROM day_stale WHERE model_id = :model", {"model": model.id}
    ).scalar()
    if waiting or version is None or model.task != "binary":
        return not waiting
    moved = w.catalog(
        "SELECT count(*) FROM day_decision WHERE model_id = :model AND version = :version "
        "AND threshold <> :threshold",
        {"model": model.id, "version": version.version, "threshold": float(threshold)},
    ).scalar()
    return not moved


def _days(w: Work, table: str, columns: str, model: Model, version: ModelVersion) -> str:
    """Register VERSION's rows of TABLE as a DuckDB view with each day as its ts."""
    frame = w.catalog_frame(
        f"SELECT day, {columns} FROM {table} WHERE model_id = :model AND version = :version",
        {"model": model.id, "version": version.version},
    )
    name = f"__{table}"
    w.db.register(f"{name}_rows", frame)
    w.sql(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT *, day::TIMESTAMP AS ts FROM {name}_rows")
    return name


def _forget(w: Work, name: str) -> None:
    w.sql(f"DROP VIEW IF EXISTS {name}")
    w.db.unregister(f"{name}_rows")


def decision_windows(
    w: Work, *, model: Model, version: ModelVersion, spec: WindowSpec
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per window: decisions and labelled ones; per window, side of the threshold and score
    bin: n, score sum (s), labelled, positives and the labelled ones' score sum (s_labelled)."""
    days = _days(
        w, "day_decision", "side, bin, n, score_sum, labelled, positives, labelled_score_sum",
        model, version,
    )  # fmt: skip
    try:
        start, end = spec.bounds_sql()
        keyed = f"(SELECT *, {spec.key_sql()} AS __w FROM {days})"
        wins = w.frame(
            f"SELECT __w AS w, {start} AS window_start, {end} AS window_end, "
            f"sum(n)::BIGINT AS n, sum(labelled)::BIGINT AS n_labeled FROM {keyed} "
            "GROUP BY __w ORDER BY __w"
        )
        cells = w.frame(
            "SELECT __w AS w, side, bin, sum(n)::BIGINT AS n, sum(score_sum) AS s, "
            "sum(labelled)::BIGINT AS labelled, sum(positives) AS positives, "
            f"sum(labelled_score_sum) AS s_labelled FROM {keyed} GROUP BY ALL"
        )
    finally:
        _forget(w, days)
    return wins, cells


def decision_totals(w: Work, *, model: Model, version: ModelVersion) -> tuple[Any, ...]:
    """Over every decision of VERSION: decisions, labelled ones, the first and last labelled
    request, and true positives, false positives, true negatives and false negatives."""
    n, labelled, first, last, tp, fp, tn, fn = w.catalog(
        "SELECT sum(n), sum(labelled), min(first_labelled), max(last_labelled), "
        "sum(CASE WHEN side THEN positives ELSE 0 END), "
        "sum(CASE WHEN side THEN labelled - positives ELSE 0 END), "
        "sum(CASE WHEN side THEN 0 ELSE labelled - positives END), "
        "sum(CASE WHEN side THEN 0 ELSE positives END) "
        "FROM day_decision WHERE model_id = :model AND version = :version",
        {"model": model.id, "version": version.version},
    ).one()
    return (
        int(n or 0), int(labelled or 0), first, last,
        *(float(x or 0) for x in (tp, fp, tn, fn)),
    )  # fmt: skip


def curve_counts(
    w: Work, *, model: Model, version: ModelVersion, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Labelled positives and negatives per threshold-curve bin (BINS + 1 of them)."""
    found = w.catalog_frame(
        "SELECT bin, sum(positives) AS positives, sum(labelled) AS labelled FROM day_curve "
        "WHERE model_id = :model AND version = :version GROUP BY bin",
        {"model": model.id, "version": version.version},
    )
    pos, neg = np.zeros(bins + 1), np.zeros(bins + 1)
    at = found["bin"].to_numpy(np.int64)
    pos[at] = found["positives"].to_numpy(float)
    neg[at] = found["labelled"].to_numpy(float) - pos[at]
    return pos, neg


def _cost(case: BusinessCase) -> tuple[float, float]:
    return float(case["cost_under"]), float(case["cost_over"])


def _mean_and_sd(
    labelled: float, low: float, high: float, low_sq: float, high_sq: float, case: BusinessCase
) -> tuple[float | None, float | None]:
    """Mean cost and its sample standard deviation from the sums of units predicted too low
    and too high (a decision is never both, so its squared cost has no cross term)."""
    if not labelled:
        return None, None
    under, over = _cost(case)
    total = under * low + over * high
    mean = total / labelled
    if labelled < 2:
        return mean, None
    squares = under * under * low_sq + over * over * high_sq
    return mean, math.sqrt(max(squares - total * mean, 0.0) / (labelled - 1))


def error_windows(
    w: Work, *, model: Model, version: ModelVersion, spec: WindowSpec, case: BusinessCase
) -> pd.DataFrame:
    """Per window of a regression model: start, end, decisions, labelled ones, realized value
    per decision (minus the mean cost) and the cost's standard deviation (sd)."""
    days = _days(
        w, "day_error", "n, labelled, low, high, low_sq, high_sq", model, version
    )  # fmt: skip
    try:
        start, end = spec.bounds_sql()
        frame = w.frame(
            f"SELECT {start} AS window_start, {end} AS window_end, sum(n)::BIGINT AS n, "
            "sum(labelled)::BIGINT AS n_labeled, sum(low) AS low, sum(high) AS high, "
            "sum(low_sq) AS low_sq, sum(high_sq) AS high_sq "
            f"FROM (SELECT *, {spec.key_sql()} AS __w FROM {days}) GROUP BY __w ORDER BY __w"
        )
    finally:
        _forget(w, days)
    found = [
        _mean_and_sd(r.n_labeled, r.low, r.high, r.low_sq, r.high_sq, case)
        for r in frame.itertuples()
    ]
    out = frame[["window_start", "window_end", "n", "n_labeled"]].copy()
    out["realized_value_per_decision"] = [None if m is None else -m for m, _ in found]
    out["sd"] = [sd for _, sd in found]
    return out.astype({"realized_value_per_decision": float, "sd": float})


def error_totals(
    w: Work, *, model: Model, version: ModelVersion, case: BusinessCase
) -> tuple[Any, ...]:
    """Over every decision of a regression VERSION: decisions, labelled ones, the first and
    last labelled request, the realized value per decision and the cost's deviation."""
    n, labelled, first, last, low, high, low_sq, high_sq = w.catalog(
        "SELECT sum(n), sum(labelled), min(first_labelled), max(last_labelled), sum(low), "
        "sum(high), sum(low_sq), sum(high_sq) FROM day_error "
        "WHERE model_id = :model AND version = :version",
        {"model": model.id, "version": version.version},
    ).one()
    low, high, low_sq, high_sq = (float(x or 0) for x in (low, high, low_sq, high_sq))
    mean, sd = _mean_and_sd(float(labelled or 0), low, high, low_sq, high_sq, case)
    return int(n or 0), int(labelled or 0), first, last, None if mean is None else -mean, sd


def decisions_per_period(w: Work, *, model: Model, period: str) -> float | None:
    """Decisions per PERIOD with traffic, over every version's counted days."""
    days = w.catalog_frame(
        "SELECT day, sum(n) AS n FROM day_score WHERE model_id = :model GROUP BY day",
        {"model": model.id},
    )
    if days.empty:
        return None
    w.db.register("__value_volume", days)
    try:
        key = WindowSpec.parse(period).key_sql()
        found = w.rows(
            f"SELECT sum(n) / nullif(count(DISTINCT {key}), 0) "
            "FROM (SELECT day::TIMESTAMP AS ts, n FROM __value_volume)"
        )[0][0]
    finally:
        w.db.unregister("__value_volume")
    return None if found is None else float(found)
