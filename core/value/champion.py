"""Champion vs challenger in money, on the same labelled production decisions.

Both model files score the same recent labelled requests; each is valued at the business
case's threshold and at its own best threshold. This is what a product owner compares, not AUC.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import InvalidInput
from core.files.sources import quote_ident
from core.registry import features_of, get_model, get_version
from core.registry.artifacts import load_model, positive_scores
from core.store import Model, ModelVersion, Store, Work, log_tables
from core.value.business_case import current
from core.value.kpi import CURVE_BINS, optimum, threshold_curve

SAMPLE = 20_000


def labelled_sample(
    w: Work, *, model: Model, version: ModelVersion, limit: int = SAMPLE
) -> pd.DataFrame:
    """The most recent labelled requests logged under VERSION: features and outcome y."""
    assert model.id is not None
    features = features_of(version)
    cols = ", ".join(f"p.{f.column} AS {quote_ident(f.name)}" for f in features)
    return w.frame(
        f"SELECT {cols}, l.y FROM {log_tables.pred_table(model.id)} p JOIN label l "
        "ON l.model_id = ? AND l.request_id = p.request_id WHERE p.version = ? "
        "ORDER BY p.ts DESC LIMIT ?",
        [model.id, version.version, int(limit)],
    )


def _value(scores: np.ndarray, y: np.ndarray, model: Model) -> dict[str, float]:
    case = current(model)
    bins = np.clip((scores * CURVE_BINS).astype(int), 0, CURVE_BINS)
    pos = np.bincount(bins, weights=y, minlength=CURVE_BINS + 1)
    neg = np.bincount(bins, weights=1 - y, minlength=CURVE_BINS + 1)
    curve = threshold_curve(pos, neg, case)
    best_t, best_v = optimum(curve)
    flagged = scores >= case["threshold"]
    cells = np.where(
        flagged,
        np.where(y == 1, case["value_tp"], case["value_fp"]),
        np.where(y == 1, case["value_fn"], case["value_tn"]),
    )
    volume = case["volume_per_period"] or len(y)
    at = float(cells.mean())
    return {
        "value_per_decision_at_threshold": at,
        "optimal_threshold": best_t,
        "value_per_decision_at_optimum": best_v,
        "value_per_period_at_threshold": at * volume,
        "value_per_period_at_optimum": best_v * volume,
    }


def compare(store: Store, *, model: str, champion: int | None, challenger: int) -> pd.DataFrame:
    """One row per version: value per decision and per period on the same labelled requests."""
    with store.open().read() as r:
        entry = get_model(r, name=model)
        if entry.task != "binary":
            raise InvalidInput("money comparison by threshold applies to binary models")
        live = get_version(r, model=entry, version=champion)
        other = get_version(r, model=entry, version=challenger)
        sample = labelled_sample(r, model=entry, version=live)
    if sample.empty:
        raise InvalidInput(f"no labelled production decisions for v{live.version} yet")
    rows = []
    y = sample["y"].to_numpy(dtype=float)
    for role, version in (("champion", live), ("challenger", other)):
        if not version.artifact_path:
            raise InvalidInput(f"v{version.version} has no model file to score the same requests")
        estimator = load_model(Path(version.artifact_path), expected_sha256=version.artifact_sha256)
        names = [f.name for f in features_of(version)]
        missing = [n for n in names if n not in sample]
        if missing:
            raise InvalidInput(
                f"v{version.version} needs inputs the logs lack: {', '.join(missing)}"
            )
        scores = np.asarray(positive_scores(estimator, sample[names], entry.positive_label), float)
        rows.append(
            {
                "role": role,
                "version": version.version,
                "decisions": len(y),
                **_value(scores, y, entry),
            }
        )
    return pd.DataFrame(rows)
