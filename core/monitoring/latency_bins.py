"""Latency quantiles from fine log-spaced bins, the same on the embedded store and a team store.

Quantiles cannot be merged from per-day summaries, so latencies are counted per bin and the
quantiles read from the bins (HDR-histogram style). The bins never move: PER_DECADE geometric
bins from LO_MS to HI_MS (each about 1% wide: 10^(1/230) = 1.01006), bin 0 below LO_MS and bin
BINS + 1 from HI_MS up. A quantile is placed as DuckDB's quantile_cont places it (linear between
the order statistics around q * (n - 1)), each order statistic read by linear interpolation
within its bin, so it is within one bin's width (1%) of the exact figure; in bin 0 it is within
LO_MS, and a latency of HI_MS (almost three hours) or more reads as HI_MS.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

LO_MS, HI_MS = 0.01, 1e7
PER_DECADE = 230
DECADES = 9  # log10(HI_MS / LO_MS)
BINS = PER_DECADE * DECADES
# Bin k (1..BINS) holds [EDGES_MS[k - 1], EDGES_MS[k]); the exact decades are exact edges.
EDGES_MS = 10.0 ** (np.arange(BINS + 1) / PER_DECADE - 2)
# How far a quantile read from the bins can be from the exact one, relative to it.
RELATIVE_WIDTH = 10 ** (1 / PER_DECADE) - 1
QUANTILES = (0.5, 0.95, 0.99)
SLOW_MS = 1000.0  # the traffic headline's slow requests, whatever the model's SLO


def bin_sql(column: str) -> str:
    """A latency's bin in DuckDB SQL (core.aggregates.traffic_counts.latency_bin in Ibis)."""
    return (
        f"CASE WHEN {column} < {LO_MS!r} THEN 0 WHEN {column} >= {HI_MS!r} THEN {BINS + 1} "
        f"ELSE least(floor((log10({column}) + 2) * {PER_DECADE}) + 1, {BINS}) END"
    )


def _lower_upper(bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inner = np.clip(bins, 1, BINS)
    lower = np.where(bins <= 0, 0.0, np.where(bins > BINS, HI_MS, EDGES_MS[inner - 1]))
    upper = np.where(bins <= 0, LO_MS, np.where(bins > BINS, HI_MS, EDGES_MS[inner]))
    return lower, upper


def quantiles(
    bins: np.ndarray, counts: np.ndarray, qs: Sequence[float] = QUANTILES
) -> list[float | None]:
    """QS' quantiles of latencies counted per bin (from 1%-wide bins); None when none."""
    order = np.argsort(bins, kind="stable")
    bins, counts = np.asarray(bins, np.int64)[order], np.asarray(counts, float)[order]
    keep = counts > 0
    bins, counts = bins[keep], counts[keep]
    n = counts.sum()
    if n == 0:
        return [None for _ in qs]
    before = np.cumsum(counts) - counts
    lower, upper = _lower_upper(bins)

    def order_statistic(rank: np.ndarray) -> np.ndarray:
        at = np.searchsorted(before, rank, side="right") - 1
        share = (rank - before[at] + 0.5) / counts[at]
        return lower[at] + share * (upper[at] - lower[at])

    position = np.asarray(qs, float) * (n - 1)
    low = np.floor(position)
    high = np.minimum(low + 1, n - 1)
    a, b = order_statistic(low), order_statistic(high)
    return [float(v) for v in a + (position - low) * (b - a)]


def grouped_quantiles(
    counts: pd.DataFrame, *, by: str, keys: pd.Series, names: Sequence[str]
) -> pd.DataFrame:
    """Per key of KEYS (in its order), NAMES' quantiles (QUANTILES, from 1%-wide bins) of
    COUNTS' `bin` and `n` grouped by column BY; NaN where nothing was measured."""
    found = {
        key: quantiles(part["bin"].to_numpy(), part["n"].to_numpy())
        for key, part in counts.groupby(by, sort=False)
    }
    rows = [found.get(key, [None] * len(QUANTILES)) for key in keys]
    return pd.DataFrame(rows, columns=list(names), index=keys.index, dtype=float)
