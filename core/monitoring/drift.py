"""Data drift per window and feature against the version's reference, computed in DuckDB.

The logs are read once per feature as binned counts per window (core.monitoring.bulk_histograms: one
GROUP BY per feature, rows keyed by day or by chunk without sorting whole rows; the reference in one
statement per kind of feature); statistics run on those small arrays, all windows at once.
The model's prediction score is checked like a numeric feature ("prediction drift"). Methods
come from core.monitoring.drift_statistics, thresholds are calibrated on the reference
(core.monitoring.drift_thresholds); both are overridable per model and feature through the
model's settings: {"drift": {"methods": {"numeric": "psi"}, "thresholds": {"psi": 0.25},
"minimum_effect": {"wasserstein": 0.1}, "features": {"income": {"method": "ks",
"threshold": 0.001}}}}. A fixed threshold replaces calibration for its method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InvalidInput
from core.monitoring import bulk_histograms as h
from core.monitoring.drift_reference import (
    MISSING_VALUE,
    calibration_of,
    references,
)
from core.monitoring.drift_statistics import (
    DEFAULT_METHOD,
    METHODS,
    chi_square_pvalue_rows,
    coarsen,
    jensen_shannon_rows,
    ks_pvalue_rows,
    methods_for,
    psi_rows,
    wasserstein_normed_rows,
    within_reach,
)
from core.monitoring.drift_thresholds import Calibration, bar, rule_of_distance, rule_of_test
from core.monitoring.stored_days import CountedWindows, counted
from core.monitoring.windows import WindowSpec
from core.registry import features_of, get_model, get_version
from core.registry.classes import class_outputs
from core.registry.features import Feature
from core.store import Model, ModelVersion, Store, Work, log_tables

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
    "signal",
    "usual_low",
    "usual_high",
    "minimum_effect",
    "primary",
    "drifted",
    "rule",
]
CALIBRATION_KEY = "drift_calibration"


@dataclass(frozen=True)
class DriftSettings:
    """Which method is primary per kind; fixed thresholds and minimum effects; per feature."""

    methods: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_METHOD))
    thresholds: dict[str, float] = field(default_factory=dict)
    features: dict[str, dict[str, Any]] = field(default_factory=dict)
    minimum_effects: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, model: Model) -> DriftSettings:
        """The model's drift settings (defaults where it has none)."""
        raw = model.settings.get("drift", {})
        return cls(
            {**DEFAULT_METHOD, **raw.get("methods", {})},
            dict(raw.get("thresholds", {})),
            dict(raw.get("features", {})),
            dict(raw.get("minimum_effect", {})),
        )

    def primary(self, feature: str, kind: str) -> str:
        """The method that decides this feature's verdict."""
        return self.features.get(feature, {}).get("method") or self.methods[kind]

    def fixed(self, feature: str, kind: str, method: str) -> tuple[float, str] | None:
        """A threshold fixed in the settings for this feature and method, and the setting's
        name (a feature's own is for its primary); None where calibration decides."""
        own = self.features.get(feature, {}).get("threshold")
        if own is not None and method == self.primary(feature, kind):
            return float(own), f"drift.features.{feature}.threshold"
        if method in self.thresholds:
            return float(self.thresholds[method]), f"drift.thresholds.{method}"
        return None

    def minimum_effect(self, method: str) -> float | None:
        """The smallest value of a distance that can count as drift (None for tests)."""
        found = self.minimum_effects.get(method, METHODS[method].minimum_effect)
        return None if found is None else float(found)


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
    """One row per window, feature (and the prediction) and method: the method's value, its
    threshold, whether it passed it (signal) and the usual range behind that threshold; and the
    feature's verdict in that window (drifted, the same on all its rows) with the rule that
    decided it, in words. The primary method decides, as core.monitoring.drift_thresholds says.

    The reference is VERSION's; the logs are VERSION's too unless LOGS_VERSION names another
    (to check a candidate's training data against the traffic the live version sees), and
    only rows from SINCE on count when it is given.
    """
    assert model.id is not None
    if only_method is not None and only_method not in METHODS:
        raise InvalidInput(f"unknown method {only_method!r}; use one of {', '.join(METHODS)}")
    settings = DriftSettings.of(model)
    windows = _windows(w, model=model, version=version, spec=spec, logs_version=logs_version,
                       since=since)  # fmt: skip
    plan = windows.plan
    wins = plan.windows
    if wins.empty:
        return pd.DataFrame(columns=COLUMNS)
    checked = checked_features(version)
    refs = references(w, model=model, version=version, checked=checked)
    calibration = Calibration.from_json(version.feature_schema.get(CALIBRATION_KEY))
    if calibration is None:  # registered before calibration existed: the same draws, now
        calibration = calibration_of(refs)
    with h.fast_grouping(w):
        results = {
            **_numeric(w, refs, [f for f in checked if f.kind == "numeric"], windows),
            **_categorical(w, refs, [f for f in checked if f.kind != "numeric"], windows),
        }
    sizes = wins["n"].to_numpy(float)
    frames = []
    for feature in checked:
        frame = _verdicts(feature, results[feature.name], settings, calibration, sizes)
        frames.append(frame if only_method is None else frame[frame["method"] == only_method])
    out = pd.concat(frames, ignore_index=True)
    at = out.pop("w").to_numpy()
    out.insert(0, "window_start", wins["window_start"].to_numpy()[at])
    out.insert(1, "window_end", wins["window_end"].to_numpy()[at])
    out.insert(2, "n", wins["n"].to_numpy(np.int64)[at])
    return out[COLUMNS]


Windows = h.LoggedWindows | CountedWindows


def _windows(
    w: Work,
    *,
    model: Model,
    version: ModelVersion,
    spec: WindowSpec,
    logs_version: int | None,
    since: Any,
) -> Windows:
    """Where the windows' counts come from: a team store's day counts, else the logs."""
    assert model.id is not None
    if counted(w, model_id=model.id, version=version.version, spec=spec, since=since,
               logs_version=logs_version):  # fmt: skip
        return CountedWindows.of(w, model_id=model.id, version=version.version, spec=spec)
    plan = h.plan_windows(
        w,
        table=log_tables.pred_table(model.id),
        where="version = ? AND ts >= ?",
        params=_logs_filter(version, logs_version, since),
        spec=spec,
    )
    return h.LoggedWindows(plan)


def _verdicts(
    feature: Feature,
    values: Values,
    settings: DriftSettings,
    calibration: Calibration,
    sizes: np.ndarray,
) -> pd.DataFrame:
    """Every method's rows for one feature, each window's verdict on all of them."""
    methods = methods_for(feature.kind)
    bars = {
        m.name: bar(
            m,
            usual=calibration.usual(feature.name, m.name, sizes),
            minimum_effect=settings.minimum_effect(m.name),
            fixed=settings.fixed(feature.name, feature.kind, m.name),
        )
        for m in methods
    }
    signals = {m.name: m.passes(values[m.name], bars[m.name].threshold) for m in methods}
    primary = METHODS[settings.primary(feature.name, feature.kind)]
    k = len(sizes)
    if primary.higher_is_drift:
        drifted = signals[primary.name]
        rules = [rule_of_distance(primary.name, values[primary.name][i], bars[primary.name], i)
                 for i in range(k)]  # fmt: skip
    else:
        effect = str(primary.effect)
        size = values[effect]
        with np.errstate(invalid="ignore"):
            drifted = signals[primary.name] & (size > bars[effect].minimum_effect)
        rules = [
            rule_of_test(
                primary.name, values[primary.name][i], bars[primary.name], i, effect, size[i],
                bars[effect],
            )
            for i in range(k)
        ]  # fmt: skip
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "w": np.arange(k),
                    "feature": feature.name,
                    "kind": feature.kind,
                    "method": m.name,
                    "value": values[m.name],
                    "threshold": bars[m.name].threshold,
                    "signal": signals[m.name],
                    "usual_low": bars[m.name].low,
                    "usual_high": bars[m.name].high,
                    "minimum_effect": bars[m.name].minimum_effect,
                    "primary": m.name == primary.name,
                    "drifted": drifted,
                    "rule": rules,
                }
            )
            for m in methods
        ],
        ignore_index=True,
    )


def calibrate(w: Work, *, model: Model, version: ModelVersion) -> Calibration:
    """VERSION's drift calibration, stored in its feature_schema (computed once per version)."""
    found = Calibration.from_json(version.feature_schema.get(CALIBRATION_KEY))
    if found is not None:
        return found
    made = calibration_of(
        references(w, model=model, version=version, checked=checked_features(version))
    )
    version.feature_schema = {**version.feature_schema, CALIBRATION_KEY: made.to_json()}
    w.session.add(version)
    return made


def calibrate_version(store: Store, *, model: str, version: int) -> Calibration:
    """Compute and store a registered version's drift calibration (run right after
    registration; core.registry sits below monitoring and cannot call it itself)."""
    with store.open().write() as w:
        entry = get_model(w, name=model)
        return calibrate(w, model=entry, version=get_version(w, model=entry, version=version))


def is_calibrated(version: ModelVersion) -> bool:
    """Whether VERSION's drift calibration is stored (in this release's recipe)."""
    return Calibration.from_json(version.feature_schema.get(CALIBRATION_KEY)) is not None


def checked_features(version: ModelVersion) -> list[Feature]:
    """What drift checks for VERSION: its input features, a multiclass model's predicted class
    and class probabilities, and the prediction (its score)."""
    outputs = class_outputs(version)
    extra = outputs.features() if outputs is not None else []
    return [*features_of(version), *extra, Feature(PREDICTION, "numeric", "score")]


Values = dict[str, Any]  # method -> one value per window


def _numeric(
    w: Work, refs: dict[str, Any], features: list[Feature], windows: Windows
) -> dict[str, Values]:
    """Per feature: each method's value per window."""
    out = {}
    for f in features:
        ref = refs[f.name]
        cur, cur_pos, cur_missing = h.dense_numeric_rows(
            *windows.numeric(w, column=f.column, bins=ref.bins),
            len(windows.plan.windows),
            ref.bins,
        )
        edges = ref.edges
        ref_coarse = np.append(coarsen(ref.fine, edges), ref.missing)
        cur_coarse = np.concatenate(
            [np.add.reduceat(cur, edges[:-1], axis=1), cur_missing[:, None]], axis=1
        )
        out[f.name] = {
            "ks": ks_pvalue_rows(ref.fine, cur),
            "psi": psi_rows(ref_coarse, cur_coarse),
            "jensen_shannon": jensen_shannon_rows(ref_coarse, cur_coarse),
            "wasserstein": wasserstein_normed_rows(
                ref.fine, ref.positions, cur, within_reach(cur_pos, ref.bins), ref.scale
            ),
        }
    return out


def _categorical(
    w: Work, refs: dict[str, Any], features: list[Feature], windows: Windows
) -> dict[str, Values]:
    """Per feature: each method's value per window."""
    out = {}
    plan = windows.plan
    for f in features:
        ref = refs[f.name]
        per_window = windows.category(w, column=f.column)
        cur_values = per_window["value"].fillna(MISSING_VALUE).to_numpy(object)
        values = sorted(set(ref) | set(cur_values))
        index = {v: j for j, v in enumerate(values)}
        ref_dense = np.zeros(len(values))
        ref_dense[[index[v] for v in ref]] = list(ref.values())
        cur = np.zeros((len(plan.windows), len(values)))
        # numpy documents a tuple of index arrays for a 2-D operand; its stubs allow one array.
        np.add.at(
            cur,
            (plan.locate(per_window["w"]), [index[v] for v in cur_values]),  # type: ignore[arg-type]
            per_window["n"].to_numpy(float),
        )
        out[f.name] = {
            "psi": psi_rows(ref_dense, cur),
            "jensen_shannon": jensen_shannon_rows(ref_dense, cur),
            "chi_square": chi_square_pvalue_rows(ref_dense, cur),
        }
    return out
