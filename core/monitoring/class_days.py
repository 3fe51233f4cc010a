"""A multiclass model's performance and value counts read from a team store's per-day counts.

A team store counts each day's rows per predicted and actual class, with the sums of their
calibrated probabilities (core.aggregates.class_counts), so replicas sum small tables instead
of scanning Parquet logs. `class_windows` gives, per calendar window (or over every day), the
frames class_performance reads from the logs, in the same shape; they answer when `counted`
says so: a team store with no day of the version waiting to be counted, whose days were
counted under the version's current calibration. Otherwise the logs are read.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from core.monitoring.class_calibration import ClassCalibration
from core.monitoring.windows import WindowSpec
from core.store import Model, ModelVersion, Work


def counted(
    w: Work,
    *,
    model: Model,
    version: ModelVersion,
    spec: WindowSpec | None,
    calibration: ClassCalibration | None,
) -> bool:
    """Whether VERSION's windows of SPEC (None: over every day) can be read from stored day
    counts, made under CALIBRATION (None: only the realized counts are read)."""
    if w.space is None or (spec is not None and spec.chunk_size):
        return False
    keys = {"model": model.id, "version": version.version}
    waiting = w.catalog(
        "SELECT count(*) FROM day_stale WHERE model_id = :model AND version = :version", keys
    ).scalar()
    if waiting or calibration is None:
        return not waiting
    other = w.catalog(
        "SELECT count(*) FROM day_class WHERE model_id = :model AND version = :version "
        "AND calibration <> :calibration",
        {**keys, "calibration": calibration.fingerprint()},
    ).scalar()
    return not other


@dataclass(frozen=True)
class ClassSums:
    """Per window (g): its bounds, rows and labelled rows (windows); labelled rows and log
    loss per actual and predicted class (realized); rows, each class's expected rows (e0,
    e1, ...) and the sums of q(1 - q), entropy and the loss's variance per predicted class
    (expected); the sums of q_a q_b per predicted class and classes a <= b (moments)."""

    windows: pd.DataFrame
    realized: pd.DataFrame
    expected: pd.DataFrame
    moments: pd.DataFrame


def _keyed(w: Work, name: str, frame: pd.DataFrame, spec: WindowSpec | None) -> str:
    """FRAME registered as NAME, and SQL of its rows with their window key __w and ts."""
    w.db.register(name, frame)
    key = "0" if spec is None else spec.key_sql()
    return f"(SELECT *, {key} AS __w FROM (SELECT *, CAST(day AS TIMESTAMP) AS ts FROM {name}) d)"


def class_windows(
    w: Work, *, model: Model, version: ModelVersion, spec: WindowSpec | None, k: int
) -> ClassSums:
    """VERSION's counted days summed per window of SPEC (None: one window of every day, without
    bounds) for K classes (see ClassSums)."""
    keys = {"model": model.id, "version": version.version}
    where = "WHERE model_id = :model AND version = :version"
    tables = {
        "__class_days": w.catalog_frame(
            "SELECT day, predicted, n, labelled, right_var, entropy, loss_var "
            f"FROM day_class {where}",
            keys,
        ),
        "__class_cells": w.catalog_frame(
            f"SELECT day, predicted, actual, labelled, loss, expected FROM day_class_cell {where}",
            keys,
        ),
        "__class_moments": w.catalog_frame(
            f"SELECT day, predicted, a, b, qq FROM day_class_moment {where}", keys
        ),
    }
    try:
        days, cells, moments = (_keyed(w, name, f, spec) for name, f in tables.items())
        bounds = "NULL, NULL" if spec is None else ", ".join(spec.bounds_sql())
        windows = w.frame(
            f"SELECT __w AS g, {bounds}, sum(n)::BIGINT AS n, sum(labelled)::BIGINT AS n_labeled "
            f"FROM {days} GROUP BY __w ORDER BY __w"
        )
        windows.columns = ["g", "window_start", "window_end", "n", "n_labeled"]
        realized = w.frame(
            "SELECT __w AS g, actual, predicted, sum(labelled)::BIGINT AS n, sum(loss) AS loss "
            f"FROM {cells} WHERE labelled > 0 GROUP BY ALL"
        )
        per_class = ", ".join(
            f"sum(CASE WHEN actual = {j} THEN expected ELSE 0 END) AS e{j}" for j in range(k)
        )
        expected = w.frame(
            f"SELECT __w AS g, predicted, {per_class} FROM {cells} GROUP BY ALL"
        ).merge(
            w.frame(
                "SELECT __w AS g, predicted, sum(n)::BIGINT AS n, sum(right_var) AS right_var, "
                f"sum(entropy) AS entropy, sum(loss_var) AS loss_var FROM {days} GROUP BY ALL"
            ),
            on=["g", "predicted"],
        )
        summed = w.frame(
            f"SELECT __w AS g, predicted, a, b, sum(qq) AS qq FROM {moments} GROUP BY ALL"
        )
    finally:
        for name in tables:
            w.db.unregister(name)
    return ClassSums(windows, realized, expected, summed)
