"""Explanations of the model overall: mean |contribution| per feature on recent production
rows against the reference, and per window over time (explanation drift)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.explain import Explainer, explainer_for
from core.explain.cases import _context, _typed
from core.registry import features_of, reference_frame
from core.store import Model, ModelVersion, Store, Work, log_tables

# Rows explained for the overview: enough for a ranking, few enough for the page to open fast.
OVERVIEW_ROWS = 100
OVER_TIME_ROWS = 300


def global_importance(
    store: Store, *, model: str, version: int | None = None, sample: int = OVERVIEW_ROWS
) -> pd.DataFrame:
    """Mean |contribution| per feature on recent production rows vs the reference (SAMPLE
    rows of each, explained on the overview plan)."""
    with store.open().read() as r:
        entry, target = _context(r, model, version)
        reference = reference_frame(r, model=entry, version=target, limit=20000)
        recent = _recent_rows(r, entry, target, sample)
    explainer = explainer_for(store, model=entry, version=target)
    names = explainer.names
    ref_rows = (
        reference.sample(n=min(sample, len(reference)), random_state=0)
        if len(reference)
        else reference
    )
    out = pd.DataFrame({"feature": names})
    out["reference"] = _mean_abs(explainer, ref_rows)
    out["production"] = _mean_abs(explainer, recent) if len(recent) else np.nan
    return out.sort_values("production" if len(recent) else "reference", ascending=False)


def _mean_abs(explainer: Explainer, frame: pd.DataFrame) -> list[float]:
    explained = explainer.explain(_typed(frame, explainer.features), overview=True)
    table = pd.DataFrame([e.contributions for e in explained])
    return [float(table[n].abs().mean()) for n in explainer.names]


def _recent_rows(w: Work, model: Model, version: ModelVersion, sample: int) -> pd.DataFrame:
    assert model.id is not None
    features = features_of(version)
    cols = ", ".join(f'{f.column} AS "{f.name.replace(chr(34), chr(34) * 2)}"' for f in features)
    return w.frame(
        f"SELECT {cols} FROM (SELECT * FROM {log_tables.pred_table(model.id)} WHERE version = ? "
        f"ORDER BY ts DESC LIMIT {int(sample) * 10}) "
        f"USING SAMPLE {int(sample)} ROWS (reservoir, 7)",
        [version.version],
    )


def importance_over_time(
    store: Store,
    *,
    model: str,
    version: int | None = None,
    per_window: int = 100,
    period: str = "W",
) -> pd.DataFrame:
    """Per window: mean |contribution| and rank of each feature (explanation drift), on at most
    PER_WINDOW rows a window and OVER_TIME_ROWS in all."""
    from core.monitoring.windows import WindowSpec

    spec = WindowSpec.parse(period)
    with store.open().read() as r:
        entry, target = _context(r, model, version)
        features = features_of(target)
        cols = ", ".join(
            f'{f.column} AS "{f.name.replace(chr(34), chr(34) * 2)}"' for f in features
        )
        start, _ = spec.bounds_sql()
        assert entry.id is not None
        starts = r.frame(
            f"SELECT __w, {start} AS window_start FROM (SELECT ts, {spec.key_sql()} AS __w "
            f"FROM {log_tables.pred_table(entry.id)} WHERE version = ?) GROUP BY __w",
            [target.version],
        )
        per_window = min(per_window, max(10, OVER_TIME_ROWS // max(len(starts), 1)))
        rows = r.frame(
            f"SELECT {cols}, __w FROM (SELECT *, {spec.key_sql()} AS __w "
            f"FROM {log_tables.pred_table(entry.id)} WHERE version = ?) "
            "QUALIFY row_number() OVER (PARTITION BY __w ORDER BY hash(request_id)) "
            f"<= {int(per_window)}",
            [target.version],
        )
    if rows.empty:
        return pd.DataFrame(columns=["window_start", "feature", "importance", "rank"])
    explainer = explainer_for(store, model=entry, version=target)
    explained = explainer.explain(_typed(rows, explainer.features), overview=True)
    table = pd.DataFrame([e.contributions for e in explained]).abs()
    table["__w"] = rows["__w"].to_numpy()
    tidy = (
        table.groupby("__w")
        .mean()
        .reset_index()
        .melt(id_vars="__w", var_name="feature", value_name="importance")
    )
    tidy["rank"] = (
        tidy.groupby("__w")["importance"].rank(ascending=False, method="first").astype(int)
    )
    return tidy.merge(starts, on="__w").drop(columns="__w").sort_values(["window_start", "rank"])
