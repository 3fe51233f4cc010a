"""Traffic per day, from the logs or from a team store's day counts.

Traffic and data quality assemble their figures from one small frame, `latency_days`: per
version, day and latency bin (core.monitoring.latency_bins; NA: no latency measured) the rows,
their score sum, and how many were slower than the SLO and than a second. The embedded store
reads it from its logs in one GROUP BY; a team store reads it from the day counts in its
catalog (core.aggregates.day_traffic) when every day asked for is counted (`counted`), else
from its logs as the embedded store does. Both give the same frame, so the same figures.
Rows kept per day (`kept_days`) and each feature's problems per day (`quality_days`) are read
the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import pandas as pd

from core.monitoring import latency_bins
from core.store import Work, log_tables

DAY_COLUMNS = {
    "version": "int64", "day": "datetime64[us]", "bin": "Int64", "n": "int64",
    "score_sum": "float64", "over_slo": "int64", "slow": "int64",
}  # fmt: skip


@dataclass(frozen=True)
class Days:
    """Which days of a model's traffic: one version or all, from START to END (dates, both
    included), from SINCE (a moment) on."""

    model_id: int
    version: int | None = None
    start: date | None = None
    end: date | None = None
    since: datetime | None = None

    def whole_days(self) -> bool:
        """Whether the filter takes whole days only (day counts cannot split one)."""
        return self.since is None or self.since.time() == time.min

    def catalog_where(self) -> tuple[str, dict[str, Any]]:
        """Portable SQL WHERE clause and parameters over a day-count table."""
        clauses = ["model_id = :model"]
        params: dict[str, Any] = {"model": self.model_id}
        if self.version is not None:
            clauses.append("version = :version")
            params["version"] = self.version
        first = [d for d in (self.start, self.since and self.since.date()) if d is not None]
        if first:
            clauses.append("day >= :first")
            params["first"] = max(first)
        if self.end is not None:
            clauses.append("day <= :last")
            params["last"] = self.end
        return " AND ".join(clauses), params

    def logs_where(self) -> tuple[str, list[Any]]:
        """DuckDB WHERE clause and parameters over the model's log table."""
        clauses: list[str] = ["TRUE"]
        params: list[Any] = []
        if self.version is not None:
            clauses.append("version = ?")
            params.append(self.version)
        if self.start is not None:
            clauses.append("ts >= ?")
            params.append(datetime.combine(self.start, time.min))
        if self.end is not None:
            clauses.append("ts < ? + INTERVAL 1 DAY")
            params.append(datetime.combine(self.end, time.min))
        if self.since is not None:
            clauses.append("ts >= ?")
            params.append(self.since)
        return " AND ".join(clauses), params


def counted(w: Work, *, days: Days) -> bool:
    """Whether a team store's day counts answer for DAYS: whole days, none waiting."""
    if w.space is None or not days.whole_days():
        return False
    clause = "model_id = :model" + ("" if days.version is None else " AND version = :version")
    waiting = w.catalog(
        f"SELECT count(*) FROM day_stale WHERE {clause}",
        {"model": days.model_id, "version": days.version},
    ).scalar()
    return not waiting


def counted_at(w: Work, *, days: Days, column: str, value: float) -> bool:
    """Whether every counted day of DAYS was counted with day_traffic's COLUMN at VALUE."""
    where, params = days.catalog_where()
    other = w.catalog(
        f"SELECT count(*) FROM day_traffic WHERE {where} AND {column} <> :value",
        {**params, "value": float(value)},
    ).scalar()
    return not other


def latency_days(w: Work, *, days: Days, slo_ms: float, counts: bool) -> pd.DataFrame:
    """Per version, day and latency bin (DAY_COLUMNS), from the day counts when COUNTS, else
    from the logs. From the counts, over_slo is at the SLO they were counted at."""
    if counts:
        where, params = days.catalog_where()
        got = w.catalog_frame(
            "SELECT version, day, CAST(NULL AS INTEGER) AS bin, rows - latency_count AS n, "
            f"score_sum, over_slo, slow FROM day_traffic WHERE {where} "
            "UNION ALL SELECT version, day, bin, n, 0.0 AS score_sum, 0 AS over_slo, 0 AS slow "
            f"FROM day_latency WHERE {where}",
            params,
        )
    else:
        where, values = days.logs_where()
        measured = "latency_ms IS NOT NULL AND NOT isnan(latency_ms)"
        got = w.frame(
            f"SELECT version, ts::DATE AS day, CASE WHEN {measured} THEN "
            f"{latency_bins.bin_sql('latency_ms')} END AS bin, count(*) AS n, "
            "sum(score) AS score_sum, count(*) FILTER (WHERE latency_ms > ?) AS over_slo, "
            f"count(*) FILTER (WHERE latency_ms > {latency_bins.SLOW_MS!r}) AS slow "
            f"FROM {log_tables.pred_table(days.model_id)} WHERE {where} GROUP BY ALL",
            [float(slo_ms), *values],
        )
    return tidy_days(got, DAY_COLUMNS, ["version", "day", "bin"])


def kept_days(w: Work, *, days: Days) -> pd.DataFrame:
    """Rows kept per day of DAYS: from a team store's day counts where they answer, else from
    the logs."""
    if counted(w, days=days):
        where, params = days.catalog_where()
        got = w.catalog_frame(
            f"SELECT day, sum(rows) AS n FROM day_traffic WHERE {where} GROUP BY day", params
        )
    else:
        where, values = days.logs_where()
        got = w.frame(
            f"SELECT ts::DATE AS day, count(*) AS n FROM {log_tables.pred_table(days.model_id)} "
            f"WHERE {where} GROUP BY 1",
            values,
        )
    return tidy_days(got, {"day": "datetime64[us]", "n": "int64"}, ["day"])


def quality_days(w: Work, *, model_id: int, checks: dict[str, str]) -> pd.DataFrame | None:
    """Per day and feature (a log column, CHECKS' key): missing, out-of-range and unknown kept
    rows from a team store's day counts; None unless every counted day of the model was
    counted with CHECKS (core.monitoring.data_quality.checks), to be read from the logs."""
    if not checks or not counted(w, days=Days(model_id)):
        return None
    params = {"model": model_id}
    days = w.catalog("SELECT count(*) FROM day_traffic WHERE model_id = :model", params).scalar()
    for column, rule in checks.items():
        alike = w.catalog(
            "SELECT count(*) FROM day_quality WHERE model_id = :model AND feature = :feature "
            "AND checks = :checks",
            {**params, "feature": column, "checks": rule},
        ).scalar()
        if alike != days:
            return None
    got = w.catalog_frame(
        "SELECT day, feature, missing, out_of_range, unknown FROM day_quality "
        "WHERE model_id = :model",
        params,
    )
    columns = {"day": "datetime64[us]", "feature": "str", "missing": "int64",
               "out_of_range": "int64", "unknown": "int64"}  # fmt: skip
    return tidy_days(got, columns, ["day", "feature"])


def tidy_days(got: pd.DataFrame, schema: dict[str, str], keys: list[str]) -> pd.DataFrame:
    """GOT with SCHEMA's columns and dtypes (days as timestamps), rows sorted by KEYS."""
    if got.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in schema.items()})
    out = got[list(schema)].assign(day=pd.to_datetime(got["day"])).astype(schema)
    return out.sort_values(keys, na_position="first", kind="stable").reset_index(drop=True)


def period_of(day: pd.Series, period: str) -> pd.Series:
    """The start of each day's period: the day ('D') or its ISO week's Monday ('W')."""
    if period == "W":
        return day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    return day


def measured_quantiles(frame: pd.DataFrame, *, by: str, keys: pd.Series) -> pd.DataFrame:
    """Latency p50/p95/p99 per key of KEYS from FRAME's bins grouped by column BY (from
    1%-wide bins, core.monitoring.latency_bins)."""
    binned = frame[frame["bin"].notna()]
    return latency_bins.grouped_quantiles(
        binned.assign(bin=binned["bin"].astype("int64")),
        by=by,
        keys=keys,
        names=["latency_p50", "latency_p95", "latency_p99"],
    )


@contextmanager
def registered(w: Work, *, name: str, frame: pd.DataFrame) -> Iterator[str]:
    """FRAME as the table NAME on the logs' DuckDB connection, for SQL that joins it."""
    w.db.register(name, frame)
    try:
        yield name
    finally:
        w.db.unregister(name)


def days_wait_again(w: Work, *, model_id: int) -> None:
    """List every counted day of a model as waiting to be counted again (its SLO changed)."""
    w.catalog(
        "INSERT INTO day_stale (model_id, version, day, generation) "
        "SELECT DISTINCT model_id, version, day, 1 FROM day_traffic WHERE model_id = :model "
        "ON CONFLICT (model_id, version, day) DO UPDATE SET generation = day_stale.generation + 1",
        {"model": model_id},
    )
