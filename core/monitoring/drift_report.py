"""Drift results in the words and shapes people use: status sentences, rankings, overlays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.monitoring import histograms as h
from core.monitoring.alerts import AlertSettings
from core.monitoring.drift import PREDICTION
from core.monitoring.drift_thresholds import number_text
from core.monitoring.performance_verdicts import performance_sentence
from core.monitoring.stored_days import CountedWindows, counted
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
    """Reference and one window side by side: bucket, reference share, window share.

    Numeric buckets are DISPLAY_BINS of drift's fine bins each (core.monitoring.histograms),
    so a team store reads the window from its day counts and shows what its logs would."""
    assert model.id is not None
    known = {f.name: f for f in features_of(version)}
    f = known.get(feature) or Feature(PREDICTION, "numeric", "score")
    ref_src = f"(SELECT *, 0 AS __w FROM {log_tables.ref_table(model.id)} WHERE version = ?)"
    window = _Window(model.id, version.version, spec, pd.Timestamp(window_start))
    if f.kind == "categorical":
        ref = h.category_counts(
            w, table=ref_src, column=f.column, window_sql="0", where="TRUE",
            params=[version.version],
        )  # fmt: skip
        both = ref.merge(window.categories(w, f.column), on="value", how="outer")
        both = both.rename(columns={"n_x": "n_ref", "n_y": "n_win"}).fillna(
            {"n_ref": 0, "n_win": 0}
        )
        both["bucket"] = both["value"].fillna("(missing)")
    else:
        bins = h.numeric_bins(
            w, table=ref_src, column=f.column, where="TRUE", params=[version.version]
        )
        ref = h.numeric_counts(
            w, table=ref_src, column=f.column, bins=bins, window_sql="0", where="TRUE",
            params=[version.version],
        )  # fmt: skip
        both = _displayed(ref).merge(
            _displayed(window.numeric(w, f.column, bins)),
            on="bucket", how="outer", suffixes=("_ref", "_win"),
        ).fillna(0)  # fmt: skip
        edges = np.linspace(bins.lo, bins.hi, DISPLAY_BINS + 1)
        both = both.sort_values("bucket")
        both["bucket"] = both["bucket"].map(lambda b: _bucket_label(int(b), edges))
    both["reference"] = both["n_ref"] / max(both["n_ref"].sum(), 1)
    both["window"] = both["n_win"] / max(both["n_win"].sum(), 1)
    return both[["bucket", "reference", "window"]].reset_index(drop=True)


@dataclass(frozen=True)
class _Window:
    """The window of VERSION's logs starting at START: counted per bin or value, from a team
    store's day counts where they can answer (core.monitoring.stored_days), else the logs."""

    model_id: int
    version: int
    spec: WindowSpec
    start: pd.Timestamp

    def _counted(self, w: Work) -> CountedWindows | None:
        if not counted(w, model_id=self.model_id, version=self.version, spec=self.spec):
            return None
        return CountedWindows.of(w, model_id=self.model_id, version=self.version, spec=self.spec)

    def _index(self, found: CountedWindows) -> int | None:
        starts = pd.to_datetime(found.plan.windows["window_start"])
        at = np.flatnonzero(starts.to_numpy() == self.start.to_datetime64())
        return int(at[0]) if len(at) else None

    def _logs(self) -> tuple[str, list[Any]]:
        pred = log_tables.pred_table(self.model_id)
        start, _ = self.spec.bounds_sql()
        key = self.spec.key_sql()
        return (
            f"(SELECT * FROM (SELECT *, {key} AS __k FROM {pred} WHERE version = ?) "
            f"WHERE __k = (SELECT __k FROM (SELECT {key} AS __k, ts FROM {pred} "
            f"WHERE version = ?) GROUP BY __k HAVING {start} = ? LIMIT 1))"
        ), [self.version, self.version, self.start.to_pydatetime()]

    def numeric(self, w: Work, column: str, bins: h.NumericBins) -> pd.DataFrame:
        """Fine bin (as NumericBins.sql) and rows of COLUMN in the window."""
        found = self._counted(w)
        if found is None:
            table, params = self._logs()
            return h.numeric_counts(
                w, table=table, column=column, bins=bins, window_sql="0", where="TRUE",
                params=params,
            )[["bin", "n"]]  # fmt: skip
        index = self._index(found)
        where, bin_, n, _ = found.numeric(w, column=column, bins=bins)
        keep = where == index
        return pd.DataFrame({"bin": bin_[keep], "n": n[keep]})

    def categories(self, w: Work, column: str) -> pd.DataFrame:
        """Value (None: missing) and rows of COLUMN in the window."""
        found = self._counted(w)
        if found is None:
            table, params = self._logs()
            got = h.category_counts(
                w, table=table, column=column, window_sql="0", where="TRUE", params=params
            )
            return got[["value", "n"]]
        index = self._index(found)
        got = found.category(w, column=column)
        keep = found.plan.locate(got["w"].to_numpy()) == index
        return got[keep].groupby("value", dropna=False)["n"].sum().reset_index()


def _displayed(fine: pd.DataFrame) -> pd.DataFrame:
    """Fine bins summed into display buckets: -2 missing, -1 below the range, 0..DISPLAY_BINS-1
    inside it, DISPLAY_BINS above it."""
    per = h.FINE_BINS // DISPLAY_BINS
    b = fine["bin"].to_numpy(np.int64)
    bucket = np.where(
        b == h.MISSING, -2,
        np.where(b == 0, -1, np.where(b > h.FINE_BINS, DISPLAY_BINS, (b - 1) // per)),
    )  # fmt: skip
    return (
        pd.DataFrame({"bucket": bucket, "n": fine["n"].to_numpy(float)})
        .groupby("bucket")["n"]
        .sum()
        .reset_index()
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
