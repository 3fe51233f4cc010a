"""Per version and day: traffic (rows, scores, latency against an SLO), missing and unknown
values per feature, and latency counted over fixed bins.

Latency quantiles are read from the bins in NumPy: LATENCY_EDGES_MS are ten per decade from
1 ms to 100 s (the R10 series), so a quantile is placed within a bin about 26% wide. A latency
is measured when it is neither NULL nor NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import ibis
import ibis.expr.types as ir
import pandas as pd

from core.aggregates.engines import Engine
from core.aggregates.frames import DAY, tidy

_R10 = (100, 125, 160, 200, 250, 315, 400, 500, 630, 800)
# Bin 0 holds latencies below 1 ms, bin k those in [edge k-1, edge k), the last bin 100 s and up.
LATENCY_EDGES_MS = tuple(m * 10**d / 100 for d in range(5) for m in _R10) + (100_000.0,)
TRAFFIC_COLUMNS = {
    "version": "int64", "day": DAY, "rows": "int64", "score_sum": "float64",
    "latency_count": "int64", "latency_sum": "float64", "over_slo": "int64",
}  # fmt: skip
QUALITY_COLUMNS = {
    "version": "int64", "day": DAY, "feature": "str", "missing": "int64", "unknown": "int64",
}  # fmt: skip
LATENCY_COLUMNS = {"version": "int64", "day": DAY, "bin": "int64", "n": "int64"}


def _measured(latency: ir.FloatingValue) -> ir.BooleanValue:
    return latency.notnull() & ~latency.isnan()


def daily_traffic(
    engine: Engine, *, model_id: int, version: int | None, days: Sequence[date], slo_ms: float
) -> pd.DataFrame:
    """Per version and day: rows, score sum, latencies measured, their sum, and how many were
    slower than SLO_MS."""
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
) -> pd.DataFrame:
    """Per version, day and feature (a log column): missing values (NULL, or NaN in a numeric
    column) and, for a categorical column with KNOWN values, values outside them."""
    logs = engine.predictions(model_id=model_id, version=version, days=days)
    if logs is None or not columns:
        return tidy(None, QUALITY_COLUMNS, [])
    counts = {}
    for i, column in enumerate(columns):
        x = logs[column]
        missing = x.isnull() | x.isnan() if x.type().is_floating() else x.isnull()
        counts[f"m{i}"] = missing.sum()
        listed = known.get(column)
        unknown = x.notnull() & x.cast("string").notin(list(listed)) if listed else None
        counts[f"u{i}"] = unknown.sum() if unknown is not None else ibis.literal(0, "int64")
    wide = engine.frame(
        logs.group_by(version=logs.version.cast("int64"), day=logs.ts.date()).aggregate(**counts)
    )
    got = pd.concat(
        [
            wide[["version", "day"]].assign(
                feature=column, missing=wide[f"m{i}"], unknown=wide[f"u{i}"]
            )
            for i, column in enumerate(columns)
        ]
    )
    return tidy(got, QUALITY_COLUMNS, ["version", "day", "feature"])


def latency_bin(
    latency: ir.FloatingValue, lo: int = 0, hi: int = len(LATENCY_EDGES_MS)
) -> ir.Value:
    """The latency bin (edges at or below the value) by binary search: about six comparisons
    a row instead of one per edge."""
    if lo == hi:
        return ibis.literal(lo, "int64")
    mid = (lo + hi + 1) // 2
    return ibis.cases(
        (latency >= LATENCY_EDGES_MS[mid - 1], latency_bin(latency, mid, hi)),
        else_=latency_bin(latency, lo, mid - 1),
    )


def daily_latency_bins(
    engine: Engine, *, model_id: int, version: int | None, days: Sequence[date]
) -> pd.DataFrame:
    """Per version, day and latency bin (see LATENCY_EDGES_MS): measured requests."""
    logs = engine.predictions(model_id=model_id, version=version, days=days)
    if logs is None:
        return tidy(None, LATENCY_COLUMNS, [])
    latency = logs.latency_ms.cast("float64")
    measured = logs.filter(_measured(latency))
    got = engine.frame(
        measured.group_by(
            version=measured.version.cast("int64"),
            day=measured.ts.date(),
            bin=latency_bin(measured.latency_ms.cast("float64")).cast("int64"),
        ).aggregate(n=measured.count())
    )
    return tidy(got, LATENCY_COLUMNS, ["version", "day", "bin"])
