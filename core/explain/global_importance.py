"""Explanations of the model overall: mean |contribution| per feature on recent production
rows against the reference, and per window over time (explanation drift).

A multiclass model's rows are each explained for the class it predicted for them: the
ranking answers "what drives the model's decisions", one list as for a binary model, rather
than one list per class that a frontline user would have to add up. A class can be asked for
instead (class_), every row then explained for that class's probability."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.explain import explainer_for
from core.explain.cases import _context
from core.explain.class_probabilities import asked_class
from core.explain.columns import typed_inputs
from core.explain.explainers import one_thread
from core.registry import features_of, reference_frame
from core.store import Model, ModelVersion, Store, Work, log_tables

# Rows explained for the overview: enough for a ranking, few enough for the page to open fast.
OVERVIEW_ROWS = 100
OVER_TIME_ROWS = 300


def global_importance(
    store: Store,
    *,
    model: str,
    version: int | None = None,
    sample: int = OVERVIEW_ROWS,
    class_: str | None = None,
) -> pd.DataFrame:
    """Mean |contribution| per feature on recent production rows vs the reference (SAMPLE
    rows of each, explained on the overview plan); a multiclass model's to each row's
    predicted class's probability, or to CLASS_'s."""
    with store.open().read() as r:
        entry, target = _context(r, model, version)
        asked = asked_class(entry, class_)
        reference = reference_frame(r, model=entry, version=target, limit=20000)
        recent = _recent_rows(r, entry, target, sample)
    names = [f.name for f in features_of(target)]
    ref_rows = (
        reference.sample(n=min(sample, len(reference)), random_state=0)
        if len(reference)
        else reference
    )
    out = pd.DataFrame({"feature": names})
    out["reference"] = _contributions(store, entry, target, ref_rows, asked).abs().mean().values
    out["production"] = (
        _contributions(store, entry, target, recent, asked).abs().mean().values
        if len(recent)
        else np.nan
    )
    return out.sort_values("production" if len(recent) else "reference", ascending=False)


def _contributions(
    store: Store, entry: Model, target: ModelVersion, frame: pd.DataFrame, class_: str | None
) -> pd.DataFrame:
    """Each row's contributions (one column per feature), on the overview plan: a multiclass
    model's to CLASS_'s probability, or to the probability of the class predicted for it."""
    typed = typed_inputs(frame, features_of(target)).reset_index(drop=True)
    if entry.task != "multiclass":
        explained = explainer_for(store, model=entry, version=target).explain(typed, overview=True)
        return pd.DataFrame([e.contributions for e in explained])
    first = explainer_for(
        store, model=entry, version=target, class_=class_ or list(entry.classes or [])[0]
    )
    if class_ is None:
        with one_thread():
            proba = first.model.predict_proba(typed[first.names])
        chosen = np.asarray([str(c) for c in first.model.classes_])[proba.argmax(axis=1)]
    else:
        chosen = np.full(len(typed), class_)
    table = pd.DataFrame(np.nan, index=typed.index, columns=first.names)
    for c in np.unique(chosen):
        rows = np.flatnonzero(chosen == c)
        explainer = explainer_for(store, model=entry, version=target, class_=str(c))
        explained = explainer.explain(typed.iloc[rows], overview=True)
        table.iloc[rows] = [[e.contributions[n] for n in first.names] for e in explained]
    return table


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
    class_: str | None = None,
) -> pd.DataFrame:
    """Per window: mean |contribution| and rank of each feature (explanation drift), on at most
    PER_WINDOW rows a window and OVER_TIME_ROWS in all (a multiclass model's as in
    global_importance)."""
    from core.monitoring.windows import WindowSpec

    spec = WindowSpec.parse(period)
    with store.open().read() as r:
        entry, target = _context(r, model, version)
        asked = asked_class(entry, class_)
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
    table = _contributions(store, entry, target, rows, asked).abs()
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
