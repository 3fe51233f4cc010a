"""Drift results in the words and shapes people use: status sentences, rankings, overlays."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.monitoring import histograms as h
from core.monitoring.alerts import AlertSettings
from core.monitoring.drift import PREDICTION
from core.monitoring.drift_thresholds import number_text
from core.monitoring.performance_verdicts import performance_sentence
from core.monitoring.windows import WindowSpec
from core.registry import features_of
from core.registry.features import Feature
from core.store import Model, ModelVersion, Work, log_tables

DISPLAY_BINS = 40


# The score given to a value past its threshold that its feature's verdict does not count (a
# test's p-value below its level on a difference too small to matter): drawn as "almost at the
# threshold", never as drift.
WITHIN_CHANCE = 0.99


def drift_scores(drift: pd.DataFrame) -> pd.DataFrame:
    """Primary-method rows with `score`: how far past its threshold each value is (1 = at it).

    A value past its threshold in a window its feature did not drift in scores WITHIN_CHANCE,
    so that heatmap and ranking agree with the verdict.
    """
    primary = drift[drift["primary"]].copy()
    higher = primary["method"].isin(["psi", "jensen_shannon", "wasserstein"])
    ratio = np.where(
        higher,
        primary["value"] / primary["threshold"],
        np.log10(primary["value"].clip(lower=1e-300)) / np.log10(primary["threshold"]),
    )
    score = np.nan_to_num(ratio.astype(float), nan=0.0)
    drifted = primary["drifted"].astype(bool)
    primary["score"] = np.where((score > 1) & ~drifted, WITHIN_CHANCE, score)
    return primary


RANKED_WINDOWS = 3


def ranking(drift: pd.DataFrame, last: int = RANKED_WINDOWS) -> pd.DataFrame:
    """Features (and the prediction) ranked by drift over the last LAST windows: the average
    score, the latest window's value, usual range (also as text, as the rule writes it),
    threshold and rule, and in how many of those windows the feature drifted."""
    scores = drift_scores(drift)
    recent = sorted(scores["window_start"].unique())[-last:]
    part = scores[scores["window_start"].isin(recent)].sort_values("window_start")
    out = part.groupby(["feature", "method"], as_index=False).agg(
        score=("score", "mean"),
        value=("value", "last"),
        usual_low=("usual_low", "last"),
        usual_high=("usual_high", "last"),
        minimum_effect=("minimum_effect", "last"),
        threshold=("threshold", "last"),
        drifted=("drifted", "last"),
        drifted_windows=("drifted", "sum"),
        windows=("drifted", "size"),
        rule=("rule", "last"),
    )
    out["usual_range"] = [
        "–" if pd.isna(low) else f"{number_text(low)}–{number_text(high)}"
        for low, high in zip(out["usual_low"], out["usual_high"], strict=True)
    ]
    return out.sort_values("score", ascending=False).reset_index(drop=True)


def drifted_features(drift: pd.DataFrame, *, consecutive: int) -> pd.Series:
    """Inputs whose verdict was `drifted` in CONSECUTIVE windows in a row, each with the first
    window of its first such run (the alerts' rule), earliest first."""
    primary = drift[drift["primary"] & (drift["feature"] != PREDICTION)]
    ordered = primary.sort_values(["feature", "window_start"])
    flags = ordered["drifted"].astype(bool)
    run = flags.copy()
    for ahead in range(1, consecutive):
        run &= ordered.groupby("feature")["drifted"].shift(-ahead, fill_value=False).astype(bool)
    return ordered[run].groupby("feature")["window_start"].min().sort_values()


def status(model: Model, version: ModelVersion, drift: pd.DataFrame, perf: pd.DataFrame) -> str:
    """A plain-language account of drift and performance for managers."""
    parts = []
    features = [f.name for f in features_of(version)]
    if drift.empty:
        return "No traffic has been logged for this version yet."
    # A feature counts as drifted when its verdict held for as many windows in a row as an
    # alert needs: one noisy window on a small sample is not news for a manager.
    settings = AlertSettings.of(model)
    consecutive = settings.consecutive
    firsts = drifted_features(drift, consecutive=consecutive)
    if firsts.empty:
        parts.append(
            f"No input drifted from the training data in any of the {len(features)} features."
        )
    else:
        names = ", ".join(firsts.index[:4]) + (" and others" if len(firsts) > 4 else "")
        parts.append(
            f"Inputs drifted in {len(firsts)} of {len(features)} features since "
            f"{pd.Timestamp(firsts.iloc[0]):%d %b %Y} ({names})."
        )
    scored = drift[drift["primary"] & (drift["feature"] == PREDICTION)].sort_values("window_start")
    if len(scored) and scored["drifted"].tail(consecutive).all():
        parts.append("The model's scores have shifted with them.")
    parts.append(
        performance_sentence(
            perf,
            task=model.task,
            reference=version.metrics,
            metrics=settings.metrics,
            consecutive=settings.consecutive,
        )
    )
    return " ".join(p for p in parts if p)


def distributions(
    w: Work,
    *,
    model: Model,
    version: ModelVersion,
    spec: WindowSpec,
    feature: str,
    window_start: Any,
) -> pd.DataFrame:
    """Reference and one window side by side: bucket, reference share, window share."""
    assert model.id is not None
    known = {f.name: f for f in features_of(version)}
    f = known.get(feature) or Feature(PREDICTION, "numeric", "score")
    ref_src = f"(SELECT *, 0 AS __w FROM {log_tables.ref_table(model.id)} WHERE version = ?)"
    start, _ = spec.bounds_sql()
    win_src = (
        f"(SELECT * FROM (SELECT *, {spec.key_sql()} AS __k FROM {log_tables.pred_table(model.id)} "
        f"WHERE version = ?) WHERE __k = (SELECT __k FROM (SELECT {spec.key_sql()} AS __k, ts "
        f"FROM {log_tables.pred_table(model.id)} WHERE version = ?) GROUP BY __k "
        f"HAVING {start} = ? LIMIT 1))"
    )
    win_params = [version.version, version.version, pd.Timestamp(window_start).to_pydatetime()]
    if f.kind == "categorical":
        ref = h.category_counts(
            w,
            table=ref_src,
            column=f.column,
            window_sql="0",
            where="TRUE",
            params=[version.version],
        )
        cur = h.category_counts(
            w, table=win_src, column=f.column, window_sql="0", where="TRUE", params=win_params
        )
        both = ref.merge(cur, on="value", how="outer", suffixes=("_ref", "_win")).fillna(
            {"n_ref": 0, "n_win": 0}
        )
        both["bucket"] = both["value"].fillna("(missing)")
    else:
        bins = h.numeric_bins(
            w, table=ref_src, column=f.column, where="TRUE", params=[version.version]
        )
        edges = np.linspace(bins.lo, bins.hi, DISPLAY_BINS + 1)
        ref = _display_counts(w, ref_src, f.column, edges, [version.version])
        cur = _display_counts(w, win_src, f.column, edges, win_params)
        both = ref.merge(cur, on="bucket", how="outer", suffixes=("_ref", "_win")).fillna(0)
        both = both.sort_values("bucket")
        both["bucket"] = both["bucket"].map(lambda b: _bucket_label(int(b), edges))
    both["reference"] = both["n_ref"] / max(both["n_ref"].sum(), 1)
    both["window"] = both["n_win"] / max(both["n_win"].sum(), 1)
    return both[["bucket", "reference", "window"]].reset_index(drop=True)


def _display_counts(
    w: Work, src: str, column: str, edges: np.ndarray, params: list
) -> pd.DataFrame:
    lo, width, last = float(edges[0]), float(edges[1] - edges[0]), len(edges) - 2
    return w.frame(
        f"SELECT CASE WHEN {column} IS NULL OR isnan({column}) THEN -2 "
        f"ELSE least(greatest(floor(({column} - {lo!r}) / {width!r}), -1), {last + 1}) END "
        f"AS bucket, count(*) AS n FROM {src} GROUP BY 1",
        params,
    )


def _bucket_label(b: int, edges: np.ndarray) -> str:
    if b == -2:
        return "(missing)"
    if b == -1:
        return f"< {_number(edges[0])}"
    if b >= len(edges) - 1:
        return f"≥ {_number(edges[-1])}"
    return f"{_number(edges[b])}–{_number(edges[b + 1])}"


def _number(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
