"""Binned counts per window, computed in DuckDB with bins fixed from the reference.

Numeric features get FINE_BINS equal-width bins between the reference's 0.5th and 99.5th
percentiles, an underflow and an overflow bin (each carrying the sum of its values, so tails
keep their real position) and a missing bin. Categorical features are counted per value.
Counts are additive, so windows can be merged without touching the logs again. Drift over many
features and windows counts with the batched helpers of core.monitoring.bulk_histograms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.store import Work

FINE_BINS = 400
MISSING = -1
# Where counts keep infinities apart from the tails they are read into (core.aggregates, a
# team store's day counts): a -inf is counted in bin 0 and a +inf in bin FINE_BINS + 1.
NEG_INF_BIN, POS_INF_BIN = -2, FINE_BINS + 2


@dataclass(frozen=True)
class NumericBins:
    """Equal-width bins over [lo, hi) with an underflow (0) and overflow (FINE_BINS + 1) bin."""

    lo: float
    hi: float

    @property
    def width(self) -> float:
        """Width of one interior bin."""
        return (self.hi - self.lo) / FINE_BINS if self.hi > self.lo else 1.0

    def sql(self, column: str) -> str:
        """SQL bin index of a column value."""
        return (
            f"CASE WHEN {column} IS NULL OR isnan({column}) THEN {MISSING} "
            f"WHEN {column} < {self.lo!r} THEN 0 WHEN {column} >= {self.hi!r} THEN {FINE_BINS + 1} "
            f"ELSE 1 + least(floor(({column} - {self.lo!r}) / {self.width!r}), {FINE_BINS - 1}) "
            "END::INTEGER"
        )

    def centers(self) -> np.ndarray:
        """Position of every bin 0..FINE_BINS+1 (tails at the range edges until sums are known)."""
        inner = self.lo + (np.arange(FINE_BINS) + 0.5) * self.width
        return np.concatenate([[self.lo], inner, [self.hi]])


def numeric_bins(w: Work, *, table: str, column: str, where: str, params: list) -> NumericBins:
    """Bins from the reference's central 99% of values."""
    lo, hi = w.rows(
        f"SELECT quantile_cont({column}, 0.005), quantile_cont({column}, 0.995) FROM {table} "
        f"WHERE {where} AND isfinite({column})",
        params,
    )[0]
    if lo is None:
        return NumericBins(0.0, 1.0)
    if hi <= lo:
        hi = lo + max(abs(lo) * 1e-6, 1e-9)
    return NumericBins(float(lo), float(hi))


def numeric_counts(
    w: Work,
    *,
    table: str,
    column: str,
    bins: NumericBins,
    window_sql: str,
    where: str,
    params: list,
) -> pd.DataFrame:
    """Per window and bin: rows and sum of values (window_sql gives the window key)."""
    return w.frame(
        f"SELECT {window_sql} AS w, {bins.sql(column)} AS bin, count(*) AS n, "
        f"sum(CASE WHEN isfinite({column}) THEN {column} END) AS total "
        f"FROM {table} WHERE {where} GROUP BY ALL",
        params,
    )


def category_counts(
    w: Work, *, table: str, column: str, window_sql: str, where: str, params: list
) -> pd.DataFrame:
    """Per window and value (None for missing): rows."""
    return w.frame(
        f"SELECT {window_sql} AS w, {column} AS value, count(*) AS n FROM {table} "
        f"WHERE {where} GROUP BY ALL",
        params,
    )


def dense_numeric(counts: pd.DataFrame, bins: NumericBins) -> tuple[np.ndarray, np.ndarray, int]:
    """Counts per bin 0..FINE_BINS+1, bin positions (tails at their mean) and missing rows."""
    full = np.zeros(FINE_BINS + 2)
    positions = bins.centers()
    missing = int(counts.loc[counts["bin"] == MISSING, "n"].sum())
    present = counts[counts["bin"] != MISSING]
    np.add.at(full, present["bin"].to_numpy(dtype=int), present["n"].to_numpy(dtype=float))
    for tail in (0, FINE_BINS + 1):
        row = present[present["bin"] == tail]
        if len(row) and row["n"].iloc[0] > 0 and pd.notna(row["total"].iloc[0]):
            positions[tail] = row["total"].iloc[0] / row["n"].iloc[0]
    return full, positions, missing
