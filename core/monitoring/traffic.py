"""Live-traffic aggregates for the overview: volume, score distribution, latency per day.

Logs are aggregated inside DuckDB (or read from a team store's day counts, see
core.monitoring.traffic_days); only rows per day and bin come back to Python, whatever the
number of logged predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from core.monitoring.latency_bins import SLOW_MS, quantiles
from core.monitoring.traffic_days import (
    Days,
    counted,
    counted_at,
    latency_days,
    measured_quantiles,
    tidy_days,
)
from core.registry import get_version
from core.store import Model, Work, log_tables

SCORE_BINS = 20


@dataclass(frozen=True)
class TrafficFilter:
    """Which logs to aggregate: a model, optionally one version and a date range."""

    model_id: int
    version: int | None = None
    start: date | None = None
    end: date | None = None

    def days(self) -> Days:
        """The days this filter takes."""
        return Days(self.model_id, self.version, self.start, self.end)


def span(w: Work, *, model: Model) -> tuple[date | None, date | None, int]:
    """First day, last day and number of logged predictions for a model."""
    assert model.id is not None
    if counted(w, days=Days(model.id)):
        lo, hi, n = w.catalog(
            "SELECT min(day), max(day), sum(rows) FROM day_traffic WHERE model_id = :model",
            {"model": model.id},
        ).first()
        return lo, hi, int(n or 0)
    lo, hi, n = w.rows(
        f"SELECT min(ts)::DATE, max(ts)::DATE, count(*) FROM {log_tables.pred_table(model.id)}"
    )[0]
    return lo, hi, int(n)


def _latency_days(w: Work, flt: TrafficFilter) -> pd.DataFrame:
    days = flt.days()
    # Traffic reads no share over the SLO (its slow share is over SLOW_MS): any SLO will do.
    return latency_days(w, days=days, slo_ms=SLOW_MS, counts=counted(w, days=days))


def daily_traffic(w: Work, *, flt: TrafficFilter) -> pd.DataFrame:
    """Per day: predictions, mean score, latency p50/p95/p99 (ms, from 1%-wide bins)."""
    frame = _latency_days(w, flt)
    per_day = (
        frame.groupby("day", sort=True)
        .agg(predictions=("n", "sum"), score_sum=("score_sum", "sum"))
        .reset_index()
    )
    per_day["mean_score"] = per_day.pop("score_sum") / per_day["predictions"]
    quantiles = measured_quantiles(frame, by="day", keys=per_day["day"])
    return pd.concat([per_day, quantiles], axis=1)


def score_range(w: Work, *, model: Model, version: int | None = None) -> tuple[float, float]:
    """The scale of the score histogram: 0-1 for a probability, else the middle 98% of the
    reference predictions of VERSION (None: the current version)."""
    assert model.id is not None
    if model.task == "binary":
        return 0.0, 1.0
    if version is None:
        version = get_version(w, model=model).version
    lo, hi = w.rows(
        "SELECT quantile_cont(score, 0.01), quantile_cont(score, 0.99) "
        f"FROM {log_tables.ref_table(model.id)} WHERE version = ?",
        [version],
    )[0]
    return float(lo), float(hi)


def score_bins(lo: float, hi: float) -> tuple[float, float]:
    """The score chart's first edge and bin width: SCORE_BINS equal bins over [lo, hi]."""
    return lo, (hi - lo) / SCORE_BINS if hi > lo else 1.0


def score_distribution(w: Work, *, flt: TrafficFilter, lo: float, hi: float) -> pd.DataFrame:
    """Per day and score bin (SCORE_BINS equal bins over [lo, hi]): share of that day's rows.

    A team store's day counts answer when they were binned over the same range: always for a
    binary model (0-1); for another model the range is its version's reference, so days of
    another version than the current one are read from the logs."""
    first, width = score_bins(lo, hi)
    days = flt.days()
    if counted(w, days=days) and all(
        counted_at(w, days=days, column=c, value=v) for c, v in (("score_lo", lo), ("score_hi", hi))
    ):
        where, params = days.catalog_where()
        got = w.catalog_frame(
            f"SELECT day, bin, sum(n) AS n FROM day_traffic_score WHERE {where} GROUP BY day, bin",
            params,
        )
    else:
        where, values = days.logs_where()
        # Literals, not parameters: written as the day counts' Ibis expression writes them.
        got = w.frame(
            f"SELECT ts::DATE AS day, least(greatest(floor((score - {float(first)!r}) / "
            f"{float(width)!r}), 0), {SCORE_BINS - 1}) AS bin, count(*) AS n "
            f"FROM {log_tables.pred_table(flt.model_id)} WHERE {where} GROUP BY ALL",
            values,
        )
    out = tidy_days(got, {"day": "datetime64[us]", "bin": "int32", "n": "int64"}, ["day", "bin"])
    out.insert(2, "bin_start", first + out["bin"] * width)
    out["share"] = out["n"] / out.groupby("day")["n"].transform("sum")
    return out


def totals(w: Work, *, flt: TrafficFilter) -> dict[str, float | int | None]:
    """Headline numbers for the filter: predictions, mean score, latency p95 (from 1%-wide
    bins), share of measured requests slower than a second."""
    frame = _latency_days(w, flt)
    n = int(frame["n"].sum())
    binned = frame[frame["bin"].notna()]
    measured = int(binned["n"].sum())
    p95 = quantiles(binned["bin"].to_numpy("int64"), binned["n"].to_numpy(), [0.95])[0]
    return {
        "predictions": n,
        "mean_score": float(frame["score_sum"].sum()) / n if n else None,
        "latency_p95": p95,
        "slow_share": int(frame["slow"].sum()) / measured if measured else None,
    }
