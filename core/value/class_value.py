"""Value per decision of a multiclass model, from its k x k value matrix (what a decision
predicting class i is worth when class j holds; core.value.business_case.value_matrix).

Realized: the mean of V[actual, predicted] over labelled rows. Estimated, for every row whether
labelled or not: the mean over rows of sum_j q_j V[j, predicted], with q the logged
probabilities calibrated on the reference's outcomes as the performance estimate reads them
(core.monitoring.class_calibration). Its band is ± 2 sd of that mean, each row's value varying as
its actual class does: var = sum_j q_j V[j, predicted]² - (sum_j q_j V[j, predicted])².
DuckDB computes the sums per window; the matrix's entries are numbers the business case has
validated, written into the SQL as literals. A team store sums its day counts instead
(core.monitoring.class_days): the realized value from the confusion counts, the estimate from
the expected ones, and the variance from the sums of q_a q_b, whatever matrix the business case
holds now.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.monitoring import class_days
from core.monitoring.class_calibration import ClassCalibration, fit_class_calibration
from core.monitoring.class_performance import ESTIMATE_Z, labelled_class_logs
from core.monitoring.windows import WindowSpec
from core.registry import classes as multiclass
from core.store import Model, ModelVersion, Work, log_tables
from core.value.business_case import current, value_matrix
from core.words import money

COLUMNS = [
    "window_start",
    "window_end",
    "n",
    "n_labeled",
    "realized_value_per_decision",
    "estimated_value_per_decision",
    "estimated_lower",
    "estimated_upper",
    "measured",
    "value_in_window",
]
# A window's value counts as measured from this many outcomes on, as a binary model's does.
MIN_OUTCOMES = 100


@dataclass(frozen=True)
class ClassValue:
    """Value per decision over some rows: realized on the labelled ones, estimated on all."""

    n: int
    n_labeled: int
    realized: float | None
    estimated: float | None
    lower: float | None
    upper: float | None
    unit: str

    def sentence(self) -> str:
        """The figures in words, with the rows each rests on."""
        if not self.n:
            return "No decisions logged yet."
        said = (
            f"Estimated from the class probabilities, a decision is worth "
            f"{money(self.estimated, self.unit)} on average (likely {money(self.lower, self.unit)} "
            f"to {money(self.upper, self.unit)}), over {self.n:,} logged decisions"
        )
        if self.realized is None:
            return said + "; no outcomes are in yet to measure it."
        return (
            f"{said}; measured on the {self.n_labeled:,} with outcomes: "
            f"{money(self.realized, self.unit)}."
        )


def _sums_sql(
    outputs: multiclass.ClassOutputs, matrix: list[list[float]], calibration: ClassCalibration
) -> str:
    """SQL of one group's rows, labelled rows, and sums of realized value, expected value and
    the variance of each row's value, over a source with the log columns and y; the expected
    value reads the probabilities through CALIBRATION, as the performance estimate does."""
    names = list(outputs.probabilities)
    raw = [f.column for f in outputs.probabilities.values()]
    probs = [f"__q{j}" for j in range(len(names))]
    calibrated = ", ".join(
        f"{q} AS {name}" for q, name in zip(calibration.probabilities_sql(raw), probs, strict=True)
    )
    predicted = multiclass.class_position_sql(outputs.predicted.column, names)

    def per_predicted(term: Any) -> str:
        cases = " ".join(f"WHEN {i} THEN {term(i)}" for i in range(len(names)))
        return f"CASE {predicted} {cases} END"

    def expected(i: int, power: int) -> str:
        return " + ".join(f"{p} * {matrix[j][i] ** power!r}" for j, p in enumerate(probs))

    def realized(i: int) -> str:
        cells = " ".join(f"WHEN {j} THEN {matrix[j][i]!r}" for j in range(len(names)))
        return f"CASE CAST(y AS INTEGER) {cells} END"

    mean = per_predicted(lambda i: expected(i, 1))
    second = per_predicted(lambda i: expected(i, 2))
    return (
        "count(*) AS n, count(y) AS n_labeled, sum(realized) AS realized, "
        "sum(mean) AS expected, sum(second - mean * mean) AS variance "
        f"FROM (SELECT *, {per_predicted(realized)} AS realized, {mean} AS mean, "
        f"{second} AS second FROM (SELECT *, {calibrated} FROM {{source}}))"
    )


def _figure(row: Any, unit: str) -> ClassValue:
    n, labelled = int(row["n"]), int(row["n_labeled"])
    if not n:
        return ClassValue(0, 0, None, None, None, None, unit)
    estimated = float(row["expected"]) / n
    sd = math.sqrt(max(float(row["variance"]), 0.0)) / n
    return ClassValue(
        n,
        labelled,
        float(row["realized"]) / labelled if labelled else None,
        estimated,
        estimated - ESTIMATE_Z * sd,
        estimated + ESTIMATE_Z * sd,
        unit,
    )


@dataclass(frozen=True)
class _Prepared:
    """What a version's value figures are read with: the sums' SQL over rows, the value
    matrix (actual x predicted) and its unit, and the calibration."""

    sums: str
    matrix: list[list[float]]
    unit: str
    calibration: ClassCalibration


def _prepared(w: Work, model: Model, version: ModelVersion) -> _Prepared:
    outputs = multiclass.class_outputs(version)
    if outputs is None:
        raise ValueError(f"version {version.version} is not a multiclass version")
    case = current(model)
    matrix = value_matrix(model, case)
    calibration = fit_class_calibration(w, model=model, version=version, outputs=outputs)
    return _Prepared(
        _sums_sql(outputs, matrix, calibration), matrix, str(case["unit"]), calibration
    )


def _counted_sums(
    w: Work, model: Model, version: ModelVersion, spec: WindowSpec | None, prepared: _Prepared
) -> pd.DataFrame | None:
    """Per window of SPEC (None: over every day), the columns _sums_sql gives, summed from a
    team store's day counts; None where they do not hold."""
    if not class_days.counted(
        w, model=model, version=version, spec=spec, calibration=prepared.calibration
    ):
        return None
    v = np.array(prepared.matrix, dtype=float)
    found = class_days.class_windows(w, model=model, version=version, spec=spec, k=len(v))
    realized, expected, moments = found.realized, found.expected, found.moments
    gain = v[realized["actual"].to_numpy(int), realized["predicted"].to_numpy(int)]
    e = expected[[f"e{j}" for j in range(len(v))]].to_numpy(float)
    worth = v[:, expected["predicted"].to_numpy(int)].T  # each actual class's, per row of e
    i, a, b = (moments[c].to_numpy(int) for c in ("predicted", "a", "b"))
    # (sum_j q_j V[j, i])² over rows: q_a q_b V[a, i] V[b, i], twice for a < b
    square = moments["qq"].to_numpy(float) * v[a, i] * v[b, i] * np.where(a < b, 2.0, 1.0)
    sums = pd.concat(
        [
            pd.Series(gain * realized["n"].to_numpy(float)).groupby(realized["g"]).sum(),
            pd.Series((e * worth).sum(axis=1)).groupby(expected["g"]).sum(),
            pd.Series((e * worth**2).sum(axis=1)).groupby(expected["g"]).sum(),
            pd.Series(square).groupby(moments["g"]).sum(),
        ],
        axis=1,
        keys=["realized", "expected", "second", "square"],
    ).fillna(0.0)
    out = found.windows.set_index("g")
    out["realized"] = sums["realized"].reindex(out.index, fill_value=0.0)
    out["expected"] = sums["expected"].reindex(out.index, fill_value=0.0)
    out["variance"] = (sums["second"] - sums["square"]).reindex(out.index, fill_value=0.0)
    return out.reset_index(drop=True)


def on_reference(w: Work, *, model: Model, version: ModelVersion) -> ClassValue:
    """Value per decision on VERSION's reference rows."""
    assert model.id is not None
    prepared = _prepared(w, model, version)
    source = f"(SELECT * FROM {log_tables.ref_table(model.id)} WHERE version = ?)"
    found = w.frame(f"SELECT {prepared.sums.format(source=source)}", [version.version])
    return _figure(found.iloc[0], prepared.unit)


def overall(w: Work, *, model: Model, version: ModelVersion) -> ClassValue:
    """Value per decision over all of VERSION's logs."""
    prepared = _prepared(w, model, version)
    counted = _counted_sums(w, model, version, None, prepared)
    if counted is not None:
        if counted.empty:
            return ClassValue(0, 0, None, None, None, None, prepared.unit)
        return _figure(counted.iloc[0], prepared.unit)
    source, params = labelled_class_logs(model, version, WindowSpec.parse("D"))
    found = w.frame(f"SELECT {prepared.sums.format(source=source)}", params)
    return _figure(found.iloc[0], prepared.unit)


def by_window(w: Work, *, model: Model, version: ModelVersion, spec: WindowSpec) -> pd.DataFrame:
    """Value per decision per window: realized, and estimated with its band; whether enough
    outcomes are in to count it as measured (MIN_OUTCOMES), and the value of the window's
    decisions (measured if so, else estimated)."""
    prepared = _prepared(w, model, version)
    found = _counted_sums(w, model, version, spec, prepared)
    if found is None:
        source, params = labelled_class_logs(model, version, spec)
        start, end = spec.bounds_sql()
        found = w.frame(
            f"SELECT {start} AS window_start, {end} AS window_end, "
            f"{prepared.sums.format(source=source)} GROUP BY __w ORDER BY __w",
            params,
        )
    rows = []
    for row in found.to_dict("records"):
        figure = _figure(row, prepared.unit)
        measured = figure.n_labeled >= MIN_OUTCOMES and figure.realized is not None
        best = figure.realized if measured else figure.estimated
        rows.append(
            [
                row["window_start"],
                row["window_end"],
                figure.n,
                figure.n_labeled,
                figure.realized,
                figure.estimated,
                figure.lower,
                figure.upper,
                measured,
                None if best is None else best * figure.n,
            ]
        )
    return pd.DataFrame(rows, columns=COLUMNS)
