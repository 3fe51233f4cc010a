"""Per version and day: what the business value figures (core.value) need, counted once.

A binary model's decisions are counted per side of the business case's threshold (score at or
above it: decided positive) and performance score bin, with their labelled part, so realized
and estimated value per window are sums of days. A regression model's errors are counted as
the units predicted too low (y - score where positive) and too high, with their squares: a
decision's cost is cost_under * low + cost_over * high, and never both, so the mean and the
standard deviation of the cost follow from these sums whatever the business case costs.
The first and last labelled request of each day give a figure's period.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import ibis
import ibis.expr.types as ir
import pandas as pd

from core.aggregates.engines import Engine
from core.aggregates.frames import DAY, tidy
from core.aggregates.score_counts import PERFORMANCE_BINS

STAMP = "datetime64[us]"
DECISION_COLUMNS = {
    "version": "int64", "day": DAY, "side": "bool", "bin": "int64", "n": "int64",
    "score_sum": "float64", "labelled": "int64", "positives": "float64",
    "labelled_score_sum": "float64", "first_labelled": STAMP, "last_labelled": STAMP,
}  # fmt: skip
ERROR_COLUMNS = {
    "version": "int64", "day": DAY, "n": "int64", "labelled": "int64", "low": "float64",
    "high": "float64", "low_sq": "float64", "high_sq": "float64", "first_labelled": STAMP,
    "last_labelled": STAMP,
}  # fmt: skip


def _labelled_logs(
    engine: Engine, model_id: int, version: int | None, days: Sequence[date]
) -> ir.Table | None:
    logs = engine.predictions(model_id=model_id, version=version, days=days)
    if logs is None:
        return None
    labels = engine.labels(model_id=model_id)
    preds = logs.select("request_id", "version", "ts", "score")
    return preds.left_join(labels, preds.request_id == labels.request_id)


def _span(rows: ir.Table) -> dict[str, ir.Value]:
    labelled = rows.y.notnull()
    return {
        "first_labelled": rows.ts.min(where=labelled),
        "last_labelled": rows.ts.max(where=labelled),
    }


def daily_decisions(
    engine: Engine,
    *,
    model_id: int,
    version: int | None,
    days: Sequence[date],
    threshold: float,
) -> pd.DataFrame:
    """Per version, day, side of THRESHOLD and score bin: decisions, score sum, labelled ones,
    positives among them and the labelled ones' score sum, first and last labelled request."""
    rows = _labelled_logs(engine, model_id, version, days)
    if rows is None:
        return tidy(None, DECISION_COLUMNS, [])
    score = rows.score.cast("float64")
    got = engine.frame(
        rows.group_by(
            version=rows.version.cast("int64"),
            day=rows.ts.date(),
            side=score >= float(threshold),
            bin=PERFORMANCE_BINS.code(score),
        ).aggregate(
            n=rows.count(),
            score_sum=score.sum(),
            labelled=rows.y.count(),
            positives=rows.y.sum(),
            labelled_score_sum=score.sum(where=rows.y.notnull()),
            **_span(rows),
        )
    )
    got["positives"] = got["positives"].fillna(0.0)
    got["labelled_score_sum"] = got["labelled_score_sum"].fillna(0.0)
    return tidy(got, DECISION_COLUMNS, ["version", "day", "side", "bin"])


def daily_errors(
    engine: Engine, *, model_id: int, version: int | None, days: Sequence[date]
) -> pd.DataFrame:
    """Per version and day of a regression model: decisions, labelled ones, the units
    predicted too low and too high (and their squares) over the labelled ones, first and last
    labelled request."""
    rows = _labelled_logs(engine, model_id, version, days)
    if rows is None:
        return tidy(None, ERROR_COLUMNS, [])
    score, y = rows.score.cast("float64"), rows.y.cast("float64")
    low = ibis.greatest(y - score, 0.0)
    high = ibis.greatest(score - y, 0.0)
    got = engine.frame(
        rows.group_by(version=rows.version.cast("int64"), day=rows.ts.date()).aggregate(
            n=rows.count(),
            labelled=y.count(),
            low=low.sum(),
            high=high.sum(),
            low_sq=(low * low).sum(),
            high_sq=(high * high).sum(),
            **_span(rows),
        )
    )
    for column in ("low", "high", "low_sq", "high_sq"):
        got[column] = got[column].fillna(0.0)
    return tidy(got, ERROR_COLUMNS, ["version", "day"])
