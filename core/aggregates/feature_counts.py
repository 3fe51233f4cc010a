"""Per version and day, counts of each feature's values: numeric bins and categorical values.

Numeric bins are those of core.monitoring.histograms (NumericBins over FINE_BINS, underflow 0,
overflow FINE_BINS + 1, MISSING for NULL and NaN), with two more codes so that infinities stay
apart: NEG_INF (a -inf, which histograms counts in the underflow) and POS_INF (a +inf, in the
overflow); as_histogram_bins folds them back. `total` is the sum of a bin's values, all finite,
and NaN for the missing and infinite codes. On Spark, one query per feature joined by UNION ALL
ran about 10x faster than GROUPING SETS.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from core.aggregates.engines import Engine
from core.aggregates.frames import DAY, tidy
from core.monitoring.histograms import FINE_BINS, MISSING, NEG_INF_BIN, POS_INF_BIN, NumericBins

NEG_INF, POS_INF = NEG_INF_BIN, POS_INF_BIN
NUMERIC_COLUMNS = {
    "version": "int64", "day": DAY, "feature": "str", "bin": "int64", "n": "int64",
    "total": "float64",
}  # fmt: skip
CATEGORY_COLUMNS = {
    "version": "int64", "day": DAY, "feature": "str", "value": "object", "n": "int64",
}  # fmt: skip


def bin_code(x: ir.FloatingValue, bins: NumericBins) -> ir.IntegerValue:
    """A value's bin as histograms.NumericBins.sql computes it, infinities apart."""
    return ibis.cases(
        (x.isnull() | x.isnan(), MISSING),
        (x < bins.lo, ibis.cases((x == -math.inf, NEG_INF), else_=0)),
        (x >= bins.hi, ibis.cases((x == math.inf, POS_INF), else_=FINE_BINS + 1)),
        # Rounding can put a value just below hi one past the last interior bin: capped.
        else_=ibis.least(((x - bins.lo) / bins.width).floor() + 1, FINE_BINS),
    ).cast("int64")


def daily_numeric_counts(
    engine: Engine,
    *,
    model_id: int,
    version: int | None,
    days: Sequence[date],
    bins: Mapping[str, NumericBins],
) -> pd.DataFrame:
    """Per version, day, numeric feature (a log column, BINS' key) and bin: rows and total."""
    logs = engine.predictions(model_id=model_id, version=version, days=days)
    if logs is None or not bins:
        return tidy(None, NUMERIC_COLUMNS, [])
    parts = []
    for column, column_bins in bins.items():
        x = logs[column].cast("float64")
        parts.append(
            logs.group_by(
                version=logs.version.cast("int64"),
                day=logs.ts.date(),
                bin=bin_code(x, column_bins),
            )
            .aggregate(n=logs.count(), total=x.sum())
            .mutate(feature=ibis.literal(column))
        )
    got = engine.frame(ibis.union(*parts, distinct=False))
    finite = (got["bin"] >= 0) & (got["bin"] <= FINE_BINS + 1)
    got["total"] = got["total"].where(finite, np.nan)
    return tidy(got, NUMERIC_COLUMNS, ["version", "day", "feature", "bin"])


def daily_category_counts(
    engine: Engine,
    *,
    model_id: int,
    version: int | None,
    days: Sequence[date],
    columns: Sequence[str],
) -> pd.DataFrame:
    """Per version, day, categorical feature (a log column) and value (None: missing): rows."""
    logs = engine.predictions(model_id=model_id, version=version, days=days)
    if logs is None or not columns:
        return tidy(None, CATEGORY_COLUMNS, [])
    parts = [
        logs.group_by(
            version=logs.version.cast("int64"),
            day=logs.ts.date(),
            value=logs[column].cast("string"),
        )
        .aggregate(n=logs.count())
        .mutate(feature=ibis.literal(column))
        for column in columns
    ]
    got = engine.frame(ibis.union(*parts, distinct=False))
    got["value"] = got["value"].astype(object).where(got["value"].notna(), None)
    return tidy(got, CATEGORY_COLUMNS, ["version", "day", "feature", "value"])


def as_histogram_bins(counts: pd.DataFrame) -> pd.DataFrame:
    """daily_numeric_counts with infinities folded into the tails, as histograms counts them."""
    folded = counts.assign(
        bin=counts["bin"].replace({NEG_INF: 0, POS_INF: FINE_BINS + 1}),
    )
    return (
        folded.groupby(["version", "day", "feature", "bin"], as_index=False, sort=True)
        .agg(n=("n", "sum"), total=("total", lambda s: s.sum(min_count=1)))
        .astype({"n": "int64"})
    )
