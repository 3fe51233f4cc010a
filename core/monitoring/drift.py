"""Data drift per window and feature against the version's reference, computed in DuckDB.

The logs are read once per feature as binned counts per window (core.monitoring.bulk_histograms: one
GROUP BY per feature, rows keyed by day or by chunk without sorting whole rows; the reference in one
statement per kind of feature); statistics run on those small arrays, all windows at once.
The model's prediction score is checked like a numeric feature ("prediction drift"). Methods
and thresholds come from core.monitoring.drift_statistics, overridable per model and feature
through the model's settings: {"drift": {"methods": {"numeric": "psi"}, "thresholds": {"psi": 0.25},
"features": {"income": {"method": "ks", "threshold": 0.001}}}}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InvalidInput
from core.monitoring import bulk_histograms as h
from core.monitoring.drift_statistics import (
    DEFAULT_METHOD,
    METHODS,
    chi_square_pvalue_rows,
    coarse_edges,
    coarsen,
    jensen_shannon_rows,
    ks_pvalue_rows,
    methods_for,
    psi_rows,
    wasserstein_normed_rows,
)
from core.monitoring.windows import WindowSpec
from core.registry import features_of
from core.registry.features import Feature
from core.store import Model, ModelVersion, Work, log_tables

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


def _logs_filter(version: ModelVersion, logs_version: int | None, since: Any) -> list[Any]:
    return [
        version.version if logs_version is None else logs_version,
        since if since is not None else datetime(1, 1, 1),
    ]


def drift_by_window(
    w: Work,
    *,
    model: Model,
    version: ModelVersion,
    spec: WindowSpec,
    only_method: str | None = None,
    logs_version: int | None = None,
    since: Any = None,
) -> pd.DataFrame:
    """One row per window, feature (and the prediction) and method: value, threshold, alert.

    The reference is VERSION's; the logs are VERSION's too unless LOGS_VERSION names another
    (to check a candidate's training data against the traffic the live version sees), and
    only rows from SINCE on count when it is given.
    """
    assert model.id is not None
    if only_method is not None and only_method not in METHODS:
        raise InvalidInput(f"unknown method {only_method!r}; use one of {', '.join(METHODS)}")
    settings = DriftSettings.of(model)
    filters = _logs_filter(version, logs_version, since)
    plan = h.plan_windows(
        w,
        table=log_tables.pred_table(model.id),
        where="version = ? AND ts >= ?",
        params=filters,
        spec=spec,
    )
    wins = plan.windows
    if wins.empty:
        return pd.DataFrame(columns=COLUMNS)
    checked = [*features_of(version), Feature(PREDICTION, "numeric", "score")]
    ref = _Reference(log_tables.ref_table(model.id), version.version)
    with h.fast_grouping(w):
        results = {
            **_numeric(w, ref, [f for f in checked if f.kind == "numeric"], plan),
            **_categorical(w, ref, [f for f in checked if f.kind != "numeric"], plan),
        }
    starts, ends = wins["window_start"].tolist(), wins["window_end"].tolist()
    sizes = [int(n) for n in wins["n"]]
    rows: list[dict[str, Any]] = []
    for feature in checked:
        values, significance = results[feature.name]
        primary = settings.primary(feature.name, feature.kind)
        for method in methods_for(feature.kind):
            if only_method and method.name != only_method:
                continue
            threshold = settings.threshold(feature.name, feature.kind, method.name)
            p_values = significance.get(method.name, [0.0] * len(wins))
            for start, end, n, value, p_value in zip(
                starts, ends, sizes, values[method.name].tolist(), list(p_values), strict=True
            ):
                rows.append(
                    {
                        "window_start": start,
                        "window_end": end,
                        "n": n,
                        "feature": feature.name,
                        "kind": feature.kind,
                        "method": method.name,
                        "value": value,
                        "threshold": threshold,
                        "alert": method.alert(value, threshold, float(p_value)),
                        "primary": method.name == primary,
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS)


Values = dict[str, Any]  # method -> one value per window


@dataclass(frozen=True)
class _Reference:
    """The version's reference rows."""

    table: str
    version: int

    @property
    def filter(self) -> str:
        return "version = ?"

    @property
    def params(self) -> list[Any]:
        return [self.version]


def _numeric(
    w: Work, ref: _Reference, features: list[Feature], plan: h.WindowPlan
) -> dict[str, tuple[Values, Values]]:
    """Per feature: each method's value per window, and the p-values gating each distance."""
    if not features:
        return {}
    binned = h.numeric_bins_many(
        w,
        table=ref.table,
        columns=[f.column for f in features],
        where=ref.filter,
        params=ref.params,
    )
    ref_counts = h.numeric_counts_many(
        w,
        table=ref.table,
        binned={c: bins for c, (bins, _) in binned.items()},
        where=ref.filter,
        params=ref.params,
    )
    ref_f = ref_counts["f"].to_numpy()
    ref_bin, ref_n = ref_counts["bin"].to_numpy(np.int64), ref_counts["n"].to_numpy(float)
    ref_total = ref_counts["total"].to_numpy(float)
    out = {}
    for i, f in enumerate(features):
        bins, scale = binned[f.column]
        mine = ref_f == i
        ref_fine, ref_pos, ref_missing = (
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
        cur, cur_pos, cur_missing = h.dense_numeric_rows(
            *h.window_counts(w, plan=plan, column=f.column, bins=bins), len(plan.windows), bins
        )
        edges = coarse_edges(ref_fine)
        ref_coarse = np.append(coarsen(ref_fine, edges), ref_missing)
        cur_coarse = np.concatenate(
            [np.add.reduceat(cur, edges[:-1], axis=1), cur_missing[:, None]], axis=1
        )
        ks = ks_pvalue_rows(ref_fine, cur)
        coarse_p = chi_square_pvalue_rows(ref_coarse, cur_coarse)
        values = {
            "ks": ks,
            "psi": psi_rows(ref_coarse, cur_coarse),
            "jensen_shannon": jensen_shannon_rows(ref_coarse, cur_coarse),
            "wasserstein": wasserstein_normed_rows(ref_fine, ref_pos, cur, cur_pos, scale),
        }
        out[f.name] = (values, {"wasserstein": ks, "psi": coarse_p, "jensen_shannon": coarse_p})
    return out


MISSING_VALUE = "\0missing"


def _categorical(
    w: Work, ref: _Reference, features: list[Feature], plan: h.WindowPlan
) -> dict[str, tuple[Values, Values]]:
    """Per feature: each method's value per window, and the p-values gating each distance."""
    if not features:
        return {}
    ref_counts = h.category_counts_many(
        w,
        table=ref.table,
        columns=[f.column for f in features],
        where=ref.filter,
        params=ref.params,
    )
    ref_f, ref_n = ref_counts["f"].to_numpy(), ref_counts["n"].to_numpy(float)
    ref_all = ref_counts["value"].fillna(MISSING_VALUE).to_numpy(object)
    out = {}
    for i, f in enumerate(features):
        mine = ref_f == i
        per_window = w.frame(
            f"SELECT {plan.key_out} AS w, value, n FROM (SELECT {plan.key_sql} AS __k, "
            f"{f.column} AS value, count(*) AS n FROM {plan.source} WHERE {plan.filter} "
            "GROUP BY ALL)",
            plan.params,
        )
        ref_values = ref_all[mine]
        cur_values = per_window["value"].fillna(MISSING_VALUE).to_numpy(object)
        values = sorted(set(ref_values) | set(cur_values))
        index = {v: j for j, v in enumerate(values)}
        ref_dense = np.zeros(len(values))
        np.add.at(ref_dense, [index[v] for v in ref_values], ref_n[mine])
        cur = np.zeros((len(plan.windows), len(values)))
        # numpy documents a tuple of index arrays for a 2-D operand; its stubs allow one array.
        np.add.at(
            cur,
            (plan.locate(per_window["w"]), [index[v] for v in cur_values]),  # type: ignore[arg-type]
            per_window["n"].to_numpy(float),
        )
        chi = chi_square_pvalue_rows(ref_dense, cur)
        methods = {
            "psi": psi_rows(ref_dense, cur),
            "jensen_shannon": jensen_shannon_rows(ref_dense, cur),
            "chi_square": chi,
        }
        out[f.name] = (methods, {"psi": chi, "jensen_shannon": chi})
    return out
