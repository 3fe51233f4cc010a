"""Data drift per window and feature against the version's reference, computed in DuckDB.

The logs are read once per feature as binned counts per window; statistics run on those
small arrays. The model's prediction score is checked like a numeric feature ("prediction
drift"). Methods and thresholds come from core.drift_stats, overridable per model and feature
through the model's settings: {"drift": {"methods": {"numeric": "psi"},
"thresholds": {"psi": 0.25}, "features": {"income": {"method": "ks", "threshold": 0.001}}}}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from core import histograms as h
from core import logs
from core.drift_stats import (
    DEFAULT_METHOD,
    METHODS,
    chi_square_pvalue,
    coarse_edges,
    coarsen,
    jensen_shannon,
    ks_pvalue,
    methods_for,
    psi,
    wasserstein_normed,
)
from core.errors import InvalidInput
from core.features import Feature
from core.models import Model, ModelVersion
from core.registry import features_of
from core.store import Work
from core.windows import WindowSpec

PREDICTION = "prediction"
COLUMNS = [
    "window_start",
    "window_end",
    "n",
    "feature",
    "kind",
    "method",
    "value",
    "threshold",
    "alert",
    "primary",
]


@dataclass(frozen=True)
class DriftSettings:
    """Which method is primary per kind, thresholds per method, overrides per feature."""

    methods: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_METHOD))
    thresholds: dict[str, float] = field(default_factory=dict)
    features: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, model: Model) -> DriftSettings:
        """The model's drift settings (defaults where it has none)."""
        raw = model.settings.get("drift", {})
        return cls(
            {**DEFAULT_METHOD, **raw.get("methods", {})},
            dict(raw.get("thresholds", {})),
            dict(raw.get("features", {})),
        )

    def primary(self, feature: str, kind: str) -> str:
        """The method that decides alerts for this feature."""
        return self.features.get(feature, {}).get("method") or self.methods[kind]

    def threshold(self, feature: str, kind: str, method: str) -> float:
        """The threshold for this feature and method (a feature's own is for its primary)."""
        own = self.features.get(feature, {}).get("threshold")
        if own is not None and method == self.primary(feature, kind):
            return float(own)
        return float(self.thresholds.get(method, METHODS[method].threshold))


@dataclass(frozen=True)
class _Source:
    """Where the windowed logs and the reference rows come from, as SQL."""

    logs: str
    logs_params: list[Any]
    ref: str
    ref_params: list[Any]


def _sources(
    w: Work,
    model: Model,
    version: ModelVersion,
    spec: WindowSpec,
    logs_version: int | None,
    since: Any,
) -> _Source:
    pred = logs.pred_table(model.id)
    where = "version = ? AND ts >= ?"
    filters = [
        version.version if logs_version is None else logs_version,
        since if since is not None else datetime(1, 1, 1),
    ]
    if spec.chunk_size:
        # Chunks need a sort of all rows; do it once, not once per feature.
        w.sql(
            f"CREATE OR REPLACE TEMP TABLE __windowed AS SELECT *, {spec.key_sql()} AS __w "
            f"FROM {pred} WHERE {where}",
            filters,
        )
        source, params = "__windowed", []
    else:
        source = f"(SELECT *, {spec.key_sql()} AS __w FROM {pred} WHERE {where})"
        params = filters
    ref = f"(SELECT *, 0 AS __w FROM {logs.ref_table(model.id)} WHERE version = ?)"
    return _Source(source, params, ref, [version.version])


def windows(w: Work, src: _Source, spec: WindowSpec) -> pd.DataFrame:
    """Window key, start, end and row count."""
    start, end = spec.bounds_sql()
    return w.frame(
        f"SELECT __w AS w, {start} AS window_start, {end} AS window_end, count(*) AS n "
        f"FROM {src.logs} GROUP BY __w ORDER BY __w",
        src.logs_params,
    )


def drift_by_window(
    w: Work,
    model: Model,
    version: ModelVersion,
    spec: WindowSpec,
    *,
    only_method: str | None = None,
    logs_version: int | None = None,
    since: Any = None,
) -> pd.DataFrame:
    """One row per window, feature (and the prediction) and method: value, threshold, alert.

    The reference is VERSION's; the logs are VERSION's too unless LOGS_VERSION names another
    (to check a candidate's training data against the traffic the live version sees), and
    only rows from SINCE on count when it is given.
    """
    if only_method is not None and only_method not in METHODS:
        raise InvalidInput(f"unknown method {only_method!r}; use one of {', '.join(METHODS)}")
    settings = DriftSettings.of(model)
    src = _sources(w, model, version, spec, logs_version, since)
    wins = windows(w, src, spec)
    if wins.empty:
        return pd.DataFrame(columns=COLUMNS)
    checked = [*features_of(version), Feature(PREDICTION, "numeric", "score")]
    rows: list[dict[str, Any]] = []
    for feature in checked:
        values, significance = (
            _numeric(w, src, feature, wins)
            if feature.kind == "numeric"
            else _categorical(w, src, feature, wins)
        )
        primary = settings.primary(feature.name, feature.kind)
        for method in methods_for(feature.kind):
            if only_method and method.name != only_method:
                continue
            threshold = settings.threshold(feature.name, feature.kind, method.name)
            p_values = significance.get(method.name, [0.0] * len(wins))
            for win, value, p_value in zip(
                wins.itertuples(), values[method.name], p_values, strict=True
            ):
                rows.append(
                    {
                        "window_start": win.window_start,
                        "window_end": win.window_end,
                        "n": int(win.n),
                        "feature": feature.name,
                        "kind": feature.kind,
                        "method": method.name,
                        "value": value,
                        "threshold": threshold,
                        "alert": method.alert(value, threshold, p_value),
                        "primary": method.name == primary,
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS)


Values = dict[str, list[float]]


def _numeric(w: Work, src: _Source, f: Feature, wins: pd.DataFrame) -> tuple[Values, Values]:
    """Each method's value per window, and the p-value that gates each distance's alert."""
    bins = h.numeric_bins(w, src.ref, f.column, "TRUE", src.ref_params)
    ref_counts = h.numeric_counts(w, src.ref, f.column, bins, "__w", "TRUE", src.ref_params)
    ref, ref_pos, ref_missing = h.dense_numeric(ref_counts, bins)
    scale = _reference_std(w, src, f)
    edges = coarse_edges(ref)
    ref_coarse = np.append(coarsen(ref, edges), ref_missing)
    per_window = h.numeric_counts(w, src.logs, f.column, bins, "__w", "TRUE", src.logs_params)
    out: Values = {m: [] for m in ("ks", "psi", "jensen_shannon", "wasserstein")}
    coarse_p: list[float] = []
    grouped = dict(tuple(per_window.groupby("w")))
    for key in wins["w"]:
        cur, cur_pos, cur_missing = h.dense_numeric(grouped.get(key, per_window.iloc[0:0]), bins)
        cur_coarse = np.append(coarsen(cur, edges), cur_missing)
        out["ks"].append(ks_pvalue(ref, cur)[1])
        out["psi"].append(psi(ref_coarse, cur_coarse))
        out["jensen_shannon"].append(jensen_shannon(ref_coarse, cur_coarse))
        out["wasserstein"].append(wasserstein_normed(ref, ref_pos, cur, cur_pos, scale))
        coarse_p.append(chi_square_pvalue(ref_coarse, cur_coarse)[1])
    gates = {"wasserstein": out["ks"], "psi": coarse_p, "jensen_shannon": coarse_p}
    return out, gates


def _reference_std(w: Work, src: _Source, f: Feature) -> float:
    value = w.rows(
        f"SELECT stddev_samp({f.column}) FROM {src.ref} WHERE isfinite({f.column})",
        src.ref_params,
    )[0][0]
    return float(value or 0.0)


def _categorical(w: Work, src: _Source, f: Feature, wins: pd.DataFrame) -> tuple[Values, Values]:
    """Each method's value per window, and the p-value that gates each distance's alert."""
    ref_counts = h.category_counts(w, src.ref, f.column, "__w", "TRUE", src.ref_params)
    per_window = h.category_counts(w, src.logs, f.column, "__w", "TRUE", src.logs_params)
    values = sorted(
        set(ref_counts["value"].fillna("\0missing")) | set(per_window["value"].fillna("\0missing"))
    )
    index = {v: i for i, v in enumerate(values)}

    def dense(frame: pd.DataFrame) -> np.ndarray:
        arr = np.zeros(len(values))
        for value, n in zip(frame["value"].fillna("\0missing"), frame["n"], strict=True):
            arr[index[value]] += n
        return arr

    ref = dense(ref_counts)
    grouped = dict(tuple(per_window.groupby("w")))
    out: Values = {m: [] for m in ("psi", "jensen_shannon", "chi_square")}
    for key in wins["w"]:
        cur = dense(grouped.get(key, per_window.iloc[0:0]))
        out["psi"].append(psi(ref, cur))
        out["jensen_shannon"].append(jensen_shannon(ref, cur))
        out["chi_square"].append(chi_square_pvalue(ref, cur)[1])
    return out, {"psi": out["chi_square"], "jensen_shannon": out["chi_square"]}
