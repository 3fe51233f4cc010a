"""A version's reference as drift reads it (binned counts per feature), and its calibration.

Numeric features get the fine bins of core.monitoring.histograms from the reference's own
quantiles, with tail positions and missing rows; categorical features their counts per value.
Drift compares windows with these arrays, and core.monitoring.drift_thresholds calibrates the
usual ranges on them: both read the reference in one statement per kind of feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.monitoring import bulk_histograms as h
from core.monitoring.drift_statistics import coarse_edges
from core.monitoring.drift_thresholds import Calibration, categorical_ranges, numeric_ranges
from core.monitoring.histograms import NumericBins
from core.registry.features import Feature
from core.store import Model, ModelVersion, Work, log_tables

MISSING_VALUE = "\0missing"


@dataclass(frozen=True)
class NumericReference:
    """A numeric feature's reference on its bins: fine counts, positions, missing rows."""

    bins: NumericBins
    scale: float
    fine: np.ndarray
    positions: np.ndarray
    missing: float

    @property
    def edges(self) -> np.ndarray:
        return coarse_edges(self.fine)


def references(
    w: Work, *, model: Model, version: ModelVersion, checked: list[Feature]
) -> dict[str, Any]:
    """Each checked feature's reference: a NumericReference, or counts per category value."""
    assert model.id is not None
    table, params = log_tables.ref_table(model.id), [version.version]
    numeric = [f for f in checked if f.kind == "numeric"]
    categorical = [f for f in checked if f.kind != "numeric"]
    out: dict[str, Any] = {}
    if numeric:
        binned = h.numeric_bins_many(
            w, table=table, columns=[f.column for f in numeric], where="version = ?", params=params
        )
        counts = h.numeric_counts_many(
            w,
            table=table,
            binned={c: bins for c, (bins, _) in binned.items()},
            where="version = ?",
            params=params,
        )
        ref_f = counts["f"].to_numpy()
        ref_bin, ref_n = counts["bin"].to_numpy(np.int64), counts["n"].to_numpy(float)
        ref_total = counts["total"].to_numpy(float)
        for i, f in enumerate(numeric):
            bins, scale = binned[f.column]
            mine = ref_f == i
            fine, pos, missing = (
                a[0]
                for a in h.dense_numeric_rows(
                    np.zeros(int(mine.sum()), dtype=np.int64),
                    ref_bin[mine],
                    ref_n[mine],
                    ref_total[mine],
                    1,
                    bins,
                )
            )
            out[f.name] = NumericReference(bins, scale, fine, pos, float(missing))
    if categorical:
        counts = h.category_counts_many(
            w,
            table=table,
            columns=[f.column for f in categorical],
            where="version = ?",
            params=params,
        )
        ref_f, ref_n = counts["f"].to_numpy(), counts["n"].to_numpy(float)
        ref_all = counts["value"].fillna(MISSING_VALUE).to_numpy(object)
        for i, f in enumerate(categorical):
            mine = ref_f == i
            out[f.name] = dict(zip(ref_all[mine].tolist(), ref_n[mine].tolist(), strict=True))
    return out


def calibration_of(refs: dict[str, Any]) -> Calibration:
    """The usual ranges of every feature's distances, from REFERENCES' arrays."""
    ranges = {}
    rows = 0
    for name, ref in refs.items():
        if isinstance(ref, NumericReference):
            ranges[name] = numeric_ranges(
                name,
                fine=ref.fine,
                positions=ref.positions,
                missing=ref.missing,
                edges=ref.edges,
                scale=ref.scale,
            )
            rows = max(rows, int(round(ref.fine.sum() + ref.missing)))
        else:
            counts = np.array([ref[v] for v in sorted(ref)], dtype=float)
            ranges[name] = categorical_ranges(name, counts=counts)
            rows = max(rows, int(round(counts.sum())))
    return Calibration(rows, ranges)
