"""Per version and day: what a multiclass model's performance and value figures need, counted
once (core.monitoring.class_performance and core.value.class_value read the same from rows).

Every quantity is a sum over rows, so a week or a month is the sum of its days:
- per predicted class: rows, labelled ones, sum q(1 - q) of the predicted class's calibrated
  probability, the summed expected log loss (entropy) and its variance;
- per predicted and actual class: the labelled rows and their log loss (the confusion matrix),
  and the sum of that class's calibrated probability (the expected confusion matrix);
- per predicted class and pair of classes a <= b: the sum of q_a q_b. A value matrix V turns
  these into the value estimate's variance, sum over rows of (sum_j q_j V[j, i])², whatever V
  the business case holds later, so a new value matrix needs no recount.
q are the logged probabilities mapped by the version's calibration (ClassCalibration), written
here in Ibis as its probabilities_sql writes them in SQL; each row keeps the calibration's
fingerprint, and days counted under another are counted again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from core.aggregates.engines import Engine
from core.aggregates.frames import DAY, tidy
from core.monitoring.class_calibration import ClassCalibration, ClassMap
from core.registry.classes import EPS, ClassOutputs

CLASS_COLUMNS = {
    "version": "int64", "day": DAY, "predicted": "int64", "calibration": "str", "n": "int64",
    "labelled": "int64", "right_var": "float64", "entropy": "float64", "loss_var": "float64",
}  # fmt: skip
CELL_COLUMNS = {
    "version": "int64", "day": DAY, "predicted": "int64", "actual": "int64",
    "labelled": "int64", "loss": "float64", "expected": "float64",
}  # fmt: skip
MOMENT_COLUMNS = {
    "version": "int64", "day": DAY, "predicted": "int64", "a": "int64", "b": "int64",
    "qq": "float64",
}  # fmt: skip
KEYS = ["version", "day", "predicted"]


def _through(m: ClassMap, p: ir.FloatingValue) -> ir.FloatingValue:
    """P through M's breakpoints, as ClassMap.sql maps it."""
    x, y = m.x, m.y
    branches: list[tuple[Any, Any]] = [(p <= x[0], ibis.literal(y[0]))]
    for i in range(1, len(x)):
        if y[i] == y[i - 1]:
            branches.append((p <= x[i], ibis.literal(y[i])))
        else:
            slope = (y[i] - y[i - 1]) / (x[i] - x[i - 1])
            branches.append((p <= x[i], y[i - 1] + (p - x[i - 1]) * slope))
    return ibis.cases(*branches, else_=ibis.literal(y[-1]))


def calibrated(calibration: ClassCalibration, p: list[Any]) -> list[Any]:
    """Each class's calibrated probability from the rows' probabilities P, as
    ClassCalibration.probabilities_sql gives it."""
    if calibration.top is not None:
        conf = ibis.greatest(*p)
        right = _through(calibration.top, conf)
        up = right / ibis.greatest(conf, 1e-12)
        down = (1 - right) / ibis.greatest(1 - conf, 1e-12)
        mapped = [ibis.cases((c >= conf, c * up), else_=c * down) for c in p]
    elif all(m is None for m in calibration.maps):
        return list(p)
    else:
        mapped = [
            c if m is None else _through(m, c) for c, m in zip(p, calibration.maps, strict=True)
        ]
    total = sum(mapped[1:], mapped[0])
    uniform = ibis.literal(1 / len(p))
    return [ibis.cases((total > 0, m / total), else_=uniform) for m in mapped]


def _class_rows(
    engine: Engine, model_id: int, version: int | None, days: Sequence[date], outputs: ClassOutputs
) -> ir.Table | None:
    """The logs with their label, predicted class index (pred), actual class index (actual,
    NULL until labelled) and each class's probability (p0, p1, ...)."""
    logs = engine.predictions(model_id=model_id, version=version, days=days)
    if logs is None:
        return None
    labels = engine.labels(model_id=model_id)
    names = list(outputs.probabilities)
    position = logs[outputs.predicted.column]
    probs = {
        f"p{j}": logs[f.column].cast("float64")
        for j, f in enumerate(outputs.probabilities.values())
    }
    rows = logs.select(
        "request_id",
        version=logs.version.cast("int64"),
        day=logs.ts.date(),
        pred=ibis.cases(*((position == name, j) for j, name in enumerate(names))),
        **probs,
    )
    joined = rows.left_join(labels, rows.request_id == labels.request_id)
    return joined.mutate(actual=joined.y.cast("int64"))


def _log(p: ir.FloatingValue) -> ir.FloatingValue:
    return ibis.least(ibis.greatest(p, EPS), 1 - EPS).ln()


def daily_class_counts(
    engine: Engine,
    *,
    model_id: int,
    version: int | None,
    days: Sequence[date],
    outputs: ClassOutputs,
    calibration: ClassCalibration,
) -> dict[str, pd.DataFrame]:
    """The day_class, day_class_cell and day_class_moment rows of DAYS (see the docstring)."""
    empty = {
        "day_class": tidy(None, CLASS_COLUMNS, []),
        "day_class_cell": tidy(None, CELL_COLUMNS, []),
        "day_class_moment": tidy(None, MOMENT_COLUMNS, []),
    }
    rows = _class_rows(engine, model_id, version, days, outputs)
    if rows is None:
        return empty
    k = len(outputs.probabilities)
    p = [rows[f"p{j}"] for j in range(k)]
    q = calibrated(calibration, p)
    logs = [_log(c) for c in p]
    h = sum((-qj * lg for qj, lg in zip(q[1:], logs[1:], strict=True)), -q[0] * logs[0])
    m2 = sum(
        (qj * lg * lg for qj, lg in zip(q[1:], logs[1:], strict=True)), q[0] * logs[0] * logs[0]
    )
    r = ibis.cases(*((rows.pred == j, q[j]) for j in range(k)))
    sums: dict[str, Any] = {
        "n": rows.count(),
        "labelled": rows.actual.count(),
        "right_var": (r * (1 - r)).sum(),
        "entropy": h.sum(),
        "loss_var": (m2 - h * h).sum(),
    }
    sums.update({f"e{j}": q[j].sum() for j in range(k)})
    sums.update({f"s{a}_{b}": (q[a] * q[b]).sum() for a in range(k) for b in range(a, k)})
    per_class = engine.frame(
        rows.group_by(version=rows.version, day=rows.day, predicted=rows.pred).aggregate(**sums)
    )
    # Engine.frame dropped the files' views it read: the labelled rows are read again.
    again = _class_rows(engine, model_id, version, days, outputs)
    assert again is not None
    labelled = again.filter(again.actual.notnull())
    actual_p = ibis.cases(*((labelled.actual == j, labelled[f"p{j}"]) for j in range(k)))
    realized = engine.frame(
        labelled.group_by(
            version=labelled.version, day=labelled.day, predicted=labelled.pred,
            actual=labelled.actual,
        ).aggregate(labelled=labelled.count(), loss=(-_log(actual_p)).sum())
    )  # fmt: skip
    if per_class.empty:
        return empty
    return {
        "day_class": tidy(
            per_class.assign(calibration=calibration.fingerprint()), CLASS_COLUMNS, KEYS
        ),
        "day_class_cell": _cells(per_class, realized, k),
        "day_class_moment": _moments(per_class, k),
    }


def _cells(per_class: pd.DataFrame, realized: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per predicted and actual class: the labelled rows, their loss and the expected rows."""
    expected = per_class.melt(
        id_vars=KEYS, value_vars=[f"e{j}" for j in range(k)], var_name="actual",
        value_name="expected",
    )  # fmt: skip
    expected["actual"] = expected["actual"].str[1:].astype("int64")
    keys = [*KEYS, "actual"]
    realized = realized.astype({c: "int64" for c in ("version", "predicted", "actual")})
    realized["day"] = pd.to_datetime(realized["day"])
    expected["day"] = pd.to_datetime(expected["day"])
    cells = expected.merge(realized, on=keys, how="outer")
    cells = cells.fillna({"labelled": 0, "loss": 0.0, "expected": 0.0})
    return tidy(cells, CELL_COLUMNS, keys)


def _moments(per_class: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per predicted class and classes a <= b: the sum of q_a q_b."""
    found = per_class.melt(
        id_vars=KEYS, value_vars=[f"s{a}_{b}" for a in range(k) for b in range(a, k)],
        var_name="pair", value_name="qq",
    )  # fmt: skip
    pair = found["pair"].str[1:].str.split("_", expand=True)
    return tidy(found.assign(a=pair[0].astype("int64"), b=pair[1].astype("int64")),
                MOMENT_COLUMNS, [*KEYS, "a", "b"])  # fmt: skip
