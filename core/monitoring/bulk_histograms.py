"""Binned counts of many features and windows with few statements and little work per log row.

Drift over many features and windows uses these: a WindowPlan keys log rows cheaply (by day,
merged into weeks or months afterwards; or by chunk boundaries found from row counts per hour),
the reference is read in one statement per kind of feature, and each feature's logs in one
GROUP BY whose bin code is cheaper per row than NumericBins.sql (decode_bins maps it back).
The bins and their indices are those of core.monitoring.histograms.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.files.sources import quote_literal
from core.monitoring.histograms import FINE_BINS, MISSING, NumericBins
from core.monitoring.windows import WindowSpec
from core.store import Work

OVERFLOW_CODE = FINE_BINS + 2
NEG_INF_CODE, POS_INF_CODE = -2, FINE_BINS + 3
MAX_SEARCHED_CHUNKS = 1024


# Per-window bin counts group by (small integer key, bin): DuckDB counts such groups in a plain
# array ("perfect hash") when the keys' value ranges fit in this many bits; its default, 12,
# is a little short of a month of days times the bins.
PERFECT_HASH_BITS = 18


@contextmanager
def fast_grouping(w: Work) -> Iterator[None]:
    """Let DuckDB count small-integer groups in an array while the block runs."""
    before = w.rows("SELECT current_setting('perfect_ht_threshold')")[0][0]
    w.sql(f"SET perfect_ht_threshold = {max(int(before), PERFECT_HASH_BITS)}")
    try:
        yield
    finally:
        w.sql(f"SET perfect_ht_threshold = {int(before)}")


def fast_bin_sql(bins: NumericBins, column: str) -> str:
    """SQL bin code of a column value, cheaper per row than NumericBins.sql (see decode_bins).

    The interior's cap at FINE_BINS (reached only by rounding just below hi) is applied to the
    aggregated rows instead of per row; the overflow bin has its own code; infinities get
    codes of their own, so a plain sum of a code's values is a sum of finite values. NULL and
    NaN are missing (NaN sorts above every number in DuckDB, hence its own test).
    """
    c = column
    return (
        f"CASE WHEN {c} < {bins.lo!r} THEN (CASE WHEN isinf({c}) THEN {NEG_INF_CODE} ELSE 0 END) "
        f"WHEN {c} < {bins.hi!r} THEN 1 + floor(({c} - {bins.lo!r}) / {bins.width!r}) "
        f"WHEN isnan({c}) THEN {MISSING} "
        f"WHEN {c} >= {bins.hi!r} THEN (CASE WHEN isinf({c}) THEN {POS_INF_CODE} "
        f"ELSE {OVERFLOW_CODE} END) ELSE {MISSING} END::INTEGER"
    )


def decode_bins(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NumericBins.sql's bin index from fast_bin_sql's code, and whether the code's values are
    all finite (so its sum counts towards the bin's total)."""
    out = np.minimum(codes, FINE_BINS)  # interior 1..FINE_BINS + 1 -> 1..FINE_BINS
    out[codes == OVERFLOW_CODE] = FINE_BINS + 1
    out[codes == POS_INF_CODE] = FINE_BINS + 1
    out[codes == NEG_INF_CODE] = 0
    return out, (codes != POS_INF_CODE) & (codes != NEG_INF_CODE) & (codes != MISSING)


def window_counts(
    w: Work, *, plan: WindowPlan, column: str, bins: NumericBins
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per window and bin of a numeric column's logs: window index, bin, rows and the sum of
    finite values (NaN where the rows have none), for dense_numeric_rows."""
    got = w.frame(
        f"SELECT {plan.key_out} AS w, bin, n, total FROM (SELECT {plan.key_sql} AS __k, "
        f"{fast_bin_sql(bins, column)} AS bin, count(*) AS n, sum({column}) AS total "
        f"FROM {plan.source} WHERE {plan.filter} GROUP BY ALL)",
        plan.params,
    )
    bin_, finite = decode_bins(got["bin"].to_numpy(np.int64))
    total = np.where(finite, got["total"].to_numpy(float), np.nan)
    return plan.locate(got["w"]), bin_, got["n"].to_numpy(float), total


@dataclass(frozen=True)
class LoggedWindows:
    """Binned counts per window of a plan, read from the logs it names."""

    plan: WindowPlan

    def numeric(
        self, w: Work, *, column: str, bins: NumericBins
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per window and bin of a numeric column: window, bin, rows, sum of finite values."""
        return window_counts(w, plan=self.plan, column=column, bins=bins)

    def category(self, w: Work, *, column: str) -> pd.DataFrame:
        """Per window (w: a key for plan.locate) and value (None: missing) of a column: rows."""
        plan = self.plan
        return w.frame(
            f"SELECT {plan.key_out} AS w, value, n FROM (SELECT {plan.key_sql} AS __k, "
            f"{column} AS value, count(*) AS n FROM {plan.source} WHERE {plan.filter} "
            "GROUP BY ALL)",
            plan.params,
        )


def numeric_bins_many(
    w: Work, *, table: str, columns: list[str], where: str, params: list
) -> dict[str, tuple[NumericBins, float]]:
    """numeric_bins of several columns in one scan, each with the sample standard deviation of
    its finite values."""
    if not columns:
        return {}
    parts = [
        f"quantile_cont({c}, [0.005, 0.995]) FILTER (WHERE isfinite({c})), "
        f"stddev_samp({c}) FILTER (WHERE isfinite({c}))"
        for c in columns
    ]
    row = w.rows(f"SELECT {', '.join(parts)} FROM {table} WHERE {where}", params)[0]
    out = {}
    for i, c in enumerate(columns):
        quantiles, std = row[2 * i], row[2 * i + 1]
        lo, hi = quantiles if quantiles else (None, None)
        if lo is None or hi is None:
            bins = NumericBins(0.0, 1.0)
        else:
            if hi <= lo:
                hi = lo + max(abs(lo) * 1e-6, 1e-9)
            bins = NumericBins(float(lo), float(hi))
        out[c] = (bins, float(std or 0.0))
    return out


def numeric_counts_many(
    w: Work, *, table: str, binned: dict[str, NumericBins], where: str, params: list
) -> pd.DataFrame:
    """Per column (f: its position in BINNED) and bin: rows and sum of finite values (NaN when
    none). A bin may come in more than one record (dense_numeric_rows adds them up)."""
    parts = [
        f"SELECT {i} AS f, {fast_bin_sql(bins, c)} AS bin, count(*) AS n, sum({c}) AS total "
        f"FROM {table} WHERE {where} GROUP BY ALL"
        for i, (c, bins) in enumerate(binned.items())
    ]
    got = w.frame(" UNION ALL ".join(parts), params * len(parts))
    bin_, finite = decode_bins(got["bin"].to_numpy(np.int64))
    got["bin"] = bin_
    got["total"] = np.where(finite, got["total"].to_numpy(float), np.nan)
    return got


def category_counts_many(
    w: Work, *, table: str, columns: list[str], where: str, params: list
) -> pd.DataFrame:
    """Per column (f: its position in COLUMNS) and value (None for missing): rows."""
    parts = [
        f"SELECT {i} AS f, {c}::VARCHAR AS value, count(*) AS n FROM {table} WHERE {where} "
        "GROUP BY ALL"
        for i, c in enumerate(columns)
    ]
    return w.frame(" UNION ALL ".join(parts), params * len(parts))


def dense_numeric_rows(
    window: np.ndarray,
    bin_: np.ndarray,
    n: np.ndarray,
    total: np.ndarray,
    k: int,
    bins: NumericBins,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dense_numeric of K windows at once, from records of (window index, bin, rows, total):
    counts (K x FINE_BINS + 2), bin positions (tails at their mean) and missing rows."""
    counts = np.zeros((k, FINE_BINS + 2))
    missing = bin_ == MISSING
    np.add.at(counts, (window[~missing], bin_[~missing]), n[~missing])
    missing_rows = np.bincount(window[missing], weights=n[missing], minlength=k)
    positions = np.tile(bins.centers(), (k, 1))
    known = ~np.isnan(total)
    for tail in (0, FINE_BINS + 1):
        sel = (bin_ == tail) & known
        sums = np.bincount(window[sel], weights=total[sel], minlength=k)
        seen = np.bincount(window[sel], minlength=k) > 0
        use = seen & (counts[:, tail] > 0)
        positions[use, tail] = sums[use] / counts[use, tail]
    return counts, positions, missing_rows


@dataclass(frozen=True)
class WindowPlan:
    """How per-feature queries key log rows, and which window each key belongs to.

    A query reads SOURCE WHERE FILTER (with PARAMS), groups by KEY_SQL AS __k and selects
    KEY_OUT (an integer) as its key; locate() maps those keys to rows of WINDOWS (w,
    window_start, window_end, n, as WindowSpec describes them).
    """

    source: str
    filter: str
    params: list[Any]
    key_sql: str
    key_out: str
    windows: pd.DataFrame
    keys: np.ndarray
    index: np.ndarray

    def locate(self, keys: Any) -> np.ndarray:
        """Window (row of WINDOWS) of each key a per-feature query returned."""
        return self.index[np.searchsorted(self.keys, np.asarray(keys, dtype=np.int64))]


def plan_windows(w: Work, *, table: str, where: str, params: list, spec: WindowSpec) -> WindowPlan:
    """Window the rows of TABLE WHERE WHERE as SPEC says."""
    if spec.chunk_size:
        return _chunk_plan(w, table, where, params, spec)
    # Rows are keyed by their day (cheap), days merged into windows afterwards. A day, a week
    # and a month all start at midnight, so a whole day falls in the window of its first row,
    # and SPEC's own SQL run on each day's first row gives that window.
    w.sql(
        "CREATE OR REPLACE TEMP TABLE __drift_days AS SELECT ts::DATE AS day, count(*) AS n, "
        f"min(ts) AS ts FROM {table} WHERE {where} GROUP BY ALL",
        params,
    )
    return _plan_of_days(w, table, where, params, spec)


def plan_counted_days(w: Work, *, days: pd.DataFrame, spec: WindowSpec) -> WindowPlan:
    """Window rows counted per day (DAYS: day and n, as a team store keeps them) as SPEC
    says; the plan's keys are the days, as plan_windows keys log rows."""
    w.db.register("__counted_days", days[["day", "n"]])
    try:
        w.sql(
            "CREATE OR REPLACE TEMP TABLE __drift_days AS SELECT day::DATE AS day, "
            "n::BIGINT AS n, day::TIMESTAMP AS ts FROM __counted_days"
        )
    finally:
        w.db.unregister("__counted_days")
    return _plan_of_days(w, "__drift_days", "FALSE", [], spec)


def _plan_of_days(w: Work, table: str, where: str, params: list, spec: WindowSpec) -> WindowPlan:
    """The plan of __drift_days (day, n, first ts): each day in the window of its first row."""
    start, end = spec.bounds_sql()
    wins = w.frame(
        f"SELECT w, {start} AS window_start, {end} AS window_end, sum(n)::BIGINT AS n "
        f"FROM (SELECT {spec.key_sql()} AS w, ts, n FROM __drift_days) GROUP BY w ORDER BY w"
    )
    days = w.frame(
        f"SELECT epoch(day)::BIGINT AS d, {spec.key_sql()} AS w FROM __drift_days ORDER BY d"
    )
    index = np.searchsorted(wins["w"].to_numpy(), days["w"].to_numpy())
    return WindowPlan(
        table, where, params, "ts::DATE", "epoch(__k)::BIGINT", wins,
        days["d"].to_numpy(np.int64), index,
    )  # fmt: skip


def _chunk_plan(w: Work, table: str, where: str, params: list, spec: WindowSpec) -> WindowPlan:
    # Chunk k holds rows k*N .. (k+1)*N - 1 in (ts, request_id) order. Counting rows per hour
    # and sorting the timestamps of the hours where chunks start finds each chunk's first
    # timestamp; the request id matters only where that timestamp is shared, so it is looked up
    # just there. Rows are then keyed by comparing their timestamp with those boundaries: no
    # sort of whole rows.
    size = int(spec.chunk_size or 0)
    rows = w.rows(f"SELECT count(*) FROM {table} WHERE {where}", params)[0][0]
    if rows > MAX_SEARCHED_CHUNKS * size:
        # Very many small chunks: number the rows once instead.
        w.sql(
            f"CREATE OR REPLACE TEMP TABLE __windowed AS SELECT *, {spec.key_sql()} AS __w "
            f"FROM {table} WHERE {where}",
            params,
        )
        return _chunks_keyed(w, "__windowed", "TRUE", [], "__w")
    starts = _chunk_starts(w, table, where, params, size, rows)
    shared = {}
    if starts:
        shared = dict(
            w.rows(
                f"SELECT ts, count(*) FROM {table} WHERE {where} AND ts IN "
                f"({', '.join('?' * len(starts))}) GROUP BY ts",
                [*params, *starts],
            )
        )
    bounds: list[tuple[Any, str | None]] = []
    for k, ts in enumerate(starts, start=1):
        if shared.get(ts, 1) <= 1:
            bounds.append((ts, None))
            continue
        before = w.rows(f"SELECT count(*) FROM {table} WHERE {where} AND ts < ?", [*params, ts])
        rid = w.rows(
            f"SELECT request_id FROM {table} WHERE {where} AND ts = ? ORDER BY request_id "
            f"LIMIT 1 OFFSET {k * size - int(before[0][0])}",
            [*params, ts],
        )[0][0]
        bounds.append((ts, rid))
    return _chunks_keyed(w, table, where, params, _chunk_search(bounds, 0, len(bounds)))


def _chunk_starts(w: Work, table: str, where: str, params: list, size: int, rows: int) -> list:
    """The timestamp at rank k * SIZE (k = 1, 2, ...) in timestamp order: rows are counted per
    hour, and only the hours holding such a rank are sorted."""
    hours = w.rows(
        f"SELECT date_trunc('hour', ts) AS h, count(*) FROM {table} WHERE {where} "
        "GROUP BY h ORDER BY h",
        params,
    )
    if not hours:
        return []
    ends = np.cumsum([n for _, n in hours])
    ranks = np.arange(size, rows, size)
    at = np.searchsorted(ends, ranks, side="right")  # the hour holding each rank
    offsets = ranks - np.where(at > 0, ends[np.maximum(at - 1, 0)], 0)
    wanted = sorted({hours[i][0] for i in at})
    found = {
        (h, int(rn)): ts
        for h, rn, ts in w.rows(
            f"SELECT h, rn, ts FROM (SELECT date_trunc('hour', ts) AS h, ts, row_number() OVER "
            "(PARTITION BY date_trunc('hour', ts) ORDER BY ts) - 1 AS rn FROM "
            f"{table} WHERE {where} AND date_trunc('hour', ts) IN "
            f"({', '.join('?' * len(wanted))})) WHERE rn IN "
            f"({', '.join(str(int(o)) for o in sorted(set(offsets.tolist())))})",
            [*params, *wanted],
        )
    }
    return [found[(hours[i][0], int(o))] for i, o in zip(at, offsets, strict=True)]


def _chunks_keyed(w: Work, table: str, where: str, params: list, key: str) -> WindowPlan:
    wins = w.frame(
        f"SELECT {key} AS w, min(ts) AS window_start, max(ts) AS window_end, count(*) AS n "
        f"FROM {table} WHERE {where} GROUP BY ALL HAVING count(*) > 0 ORDER BY w",
        params,
    )
    keys = wins["w"].to_numpy(np.int64)
    return WindowPlan(table, where, params, key, "__k", wins, keys, np.arange(len(keys)))


def _chunk_search(bounds: list[tuple[Any, str | None]], lo: int, hi: int) -> str:
    """SQL for the chunk (lo..hi) of a row: a binary search over where chunks lo+1..hi start
    (bounds[k - 1]: chunk k's first timestamp, and its request id when that is shared)."""
    if lo == hi:
        return str(lo)
    mid = (lo + hi + 1) // 2
    ts, rid = bounds[mid - 1]
    stamp = f"TIMESTAMP '{ts.isoformat(sep=' ')}'"
    starts_here = (
        f"ts >= {stamp}"
        if rid is None
        else f"(ts > {stamp} OR (ts = {stamp} AND request_id >= {quote_literal(rid)}))"
    )
    return (
        f"CASE WHEN {starts_here} THEN {_chunk_search(bounds, mid, hi)} "
        f"ELSE {_chunk_search(bounds, lo, mid - 1)} END"
    )
