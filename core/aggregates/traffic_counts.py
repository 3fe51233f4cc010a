"""Per version and day: traffic (rows, scores, latency against an SLO and over a second),
missing, out-of-range and unknown values per feature, latency counted over fixed bins, and
scores over the traffic chart's bins.

Latency quantiles are read from the bins in NumPy (core.monitoring.latency_bins: about 1% wide,
fixed forever). A latency is measured when it is neither NULL nor NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import ibis
import ibis.expr.types as ir
import pandas as pd

from core.aggregates.engines import Engine
from core.aggregates.frames import DAY, tidy
from core.monitoring import latency_bins
from core.monitoring.latency_bins import SLOW_MS

TRAFFIC_COLUMNS = {
    "version": "int64", "day": DAY, "rows": "int64", "score_sum": "float64",
    "latency_count": "int64", "latency_sum": "float64", "over_slo": "int64", "slow": "int64",
}  # fmt: skip
QUALITY_COLUMNS = {
    "version": "int64", "day": DAY, "feature": "str", "missing": "int64",
    "out_of_range": "int64", "unknown": "int64",
}  # fmt: skip
LATENCY_COLUMNS = {"version": "int64", "day": DAY, "bin": "int64", "n": "int64"}
SCORE_BIN_COLUMNS = {"version": "int64", "day": DAY, "bin": "int64", "n": "int64"}


def _measured(latency: ir.FloatingValue) -> ir.BooleanValue:
    return latency.notnull() & ~latency.isnan()


def daily_traffic(
    engine: Engine, *, model_id: int, version: int | None, days: Sequence[date], slo_ms: float
) -> pd.DataFrame:
    """Per version and day: rows, score sum, latencies measured, their sum, and how many were
    slower than SLO_MS and than SLOW_MS."""
    logs = engine.predictions(model_id=model_id, version=version, days=days)
    if logs is None:
        return tidy(None, TRAFFIC_COLUMNS, [])
    latency = logs.latency_ms.cast("float64")
    measured = _measured(latency)
    got = engine.frame(
        logs.group_by(version=logs.version.cast("int64"), day=logs.ts.date()).aggregate(
            rows=logs.count(),
            score_sum=logs.score.sum(),
            latency_count=measured.sum(),
            latency_sum=latency.sum(where=measured),
            over_slo=(measured & (latency > float(slo_ms))).sum(),
            slow=(measured & (latency > SLOW_MS)).sum(),
        )
    )
    return tidy(got, TRAFFIC_COLUMNS, ["version", "day"])


def daily_feature_quality(
    engine: Engine,
    *,
    model_id: int,
    version: int | None,
    days: Sequence[date],
    columns: Sequence[str],
    known: Mapping[str, Sequence[str]],
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """Per version, day and feature (a log column): missing values (NULL, or NaN in a numeric
    column), for a numeric column with RANGES values outside [min, max], and for a categorical
    column with KNOWN values, values outside them."""
    logs = engine.predictions(model_id=model_id, version=version, days=days)
    if logs is None or not columns:
        return tidy(None, QUALITY_COLUMNS, [])
    ranges = ranges or {}
    none = ibis.literal(0, "int64")
    counts = {}
    for i, column in enumerate(columns):
        x = logs[column]
        missing = x.isnull() | x.isnan() if x.type().is_floating() else x.isnull()
        counts[f"m{i}"] = missing.sum()
        if column in ranges:
            lo, hi = (float(v) for v in ranges[column])
            outside = x.notnull() & ((x < lo) | (x > hi))
            counts[f"o{i}"] = outside.sum()
        else:
            counts[f"o{i}"] = none
        listed = known.get(column)
        unknown = x.notnull() & x.cast("string").notin(list(listed)) if listed else None
        counts[f"u{i}"] = unknown.sum() if unknown is not None else none
    wide = engine.frame(
        logs.group_by(version=logs.version.cast("int64"), day=logs.ts.date()).aggregate(**counts)
    )
    got = pd.concat(
        [
            wide[["version", "day"]].assign(
                feature=column,
                missing=wide[f"m{i}"],
                out_of_range=wide[f"o{i}"],
                unknown=wide[f"u{i}"],
            )
            for i, column in enumerate(columns)
        ]
    )
    return tidy(got, QUALITY_COLUMNS, ["version", "day", "feature"])


def latency_bin(latency: ir.FloatingValue) -> ir.IntegerValue:
    """A latency's bin, as latency_bins.bin_sql computes it in DuckDB SQL."""
    lb = latency_bins
    inner = ibis.least(((latency.log10() + 2) * lb.PER_DECADE).floor() + 1, lb.BINS)
    return ibis.cases(
        (latency < lb.LO_MS, 0), (latency >= lb.HI_MS, lb.BINS + 1), else_=inner
    ).cast("int64")


def daily_latency_bins(
    engine: Engine, *, model_id: int, version: int | None, days: Sequence[date]
) -> pd.DataFrame:
    """Per version, day and latency bin (core.monitoring.latency_bins): measured requests."""
    logs = engine.predictions(model_id=model_id, version=version, days=days)
    if logs is None:
        return tidy(None, LATENCY_COLUMNS, [])
    latency = logs.latency_ms.cast("float64")
    measured = logs.filter(_measured(latency))
    got = engine.frame(
        measured.group_by(
            version=measured.version.cast("int64"),
            day=measured.ts.date(),
            bin=latency_bin(measured.latency_ms.cast("float64")),
        ).aggregate(n=measured.count())
    )
    return tidy(got, LATENCY_COLUMNS, ["version", "day", "bin"])


def daily_score_bins(
    engine: Engine,
    *,
    model_id: int,
    version: int | None,
    days: Sequence[date],
    lo: float,
    width: float,
    count: int,
) -> pd.DataFrame:
    """Per version, day and score bin (COUNT bins of WIDTH from LO, scores outside clamped, as
    core.monitoring.traffic.score_distribution bins them): rows."""
    logs = engine.predictions(model_id=model_id, version=version, days=days)
    if logs is None:
        return tidy(None, SCORE_BIN_COLUMNS, [])
    score = logs.score.cast("float64")
    code = ibis.least(ibis.greatest(((score - float(lo)) / float(width)).floor(), 0), count - 1)
    got = engine.frame(
        logs.group_by(
            version=logs.version.cast("int64"), day=logs.ts.date(), bin=code.cast("int64")
        ).aggregate(n=logs.count())
    )
    return tidy(got, SCORE_BIN_COLUMNS, ["version", "day", "bin"])


BATCH_COLUMNS = {"version": "int64", "day": DAY, "batch_id": "str", "last_ts": "datetime64[us]"}


def daily_batch_times(
    engine: Engine, *, model_id: int, version: int | None, days: Sequence[date]
) -> pd.DataFrame:
    """Per version, day and batch: the batch's newest request time that day."""
    logs = engine.predictions(model_id=model_id, version=version, days=days)
    if logs is None:
        return tidy(None, BATCH_COLUMNS, [])
    got = engine.frame(
        logs.group_by(
            version=logs.version.cast("int64"), day=logs.ts.date(), batch_id=logs.batch_id
        ).aggregate(last_ts=logs.ts.max())
    )
    return tidy(got, BATCH_COLUMNS, ["version", "day", "batch_id"])
