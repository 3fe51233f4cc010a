"""A team store's traffic and data-quality counts per day, counted with its other day counts.

`traffic_day_counts` gives, per catalog table, the rows of a version's DAYS (see
core.store.schema): `day_traffic` (rows, scores, latency against the model's SLO of the moment,
kept in slo_ms, and the score chart's range for the version, kept in score_lo/hi),
`day_latency` (core.monitoring.latency_bins), `day_traffic_score` (the score chart's bins over
that range), `day_quality` (each feature's problems against the version's own checks, kept in
`checks`) and `day_batch` (each batch's newest request). A reader whose SLO, range or checks
differ from the counted ones reads the logs instead (core.monitoring.day_traffic).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from core.aggregates.engines import Engine
from core.aggregates.traffic_counts import (
    daily_batch_times,
    daily_feature_quality,
    daily_latency_bins,
    daily_score_bins,
    daily_traffic,
)
from core.monitoring import data_quality, traffic
from core.registry import features_of
from core.store import Model, ModelVersion, Work


def traffic_day_counts(
    w: Work, *, engine: Engine, model: Model, version: ModelVersion, days: list[date]
) -> dict[str, pd.DataFrame]:
    """Per table, the traffic and quality rows of VERSION's DAYS (model_id added by the caller)."""
    assert model.id is not None
    where: dict[str, Any] = {"model_id": model.id, "version": version.version, "days": days}
    slo = data_quality.latency_slo(model)
    lo, hi = traffic.score_range(w, model=model, version=version.version)
    start, width = traffic.score_bins(lo, hi)
    features = features_of(version)
    ranges = {
        f.column: (float(f.min), float(f.max))  # type: ignore[arg-type]
        for f in features
        if data_quality.can_have(f, "out_of_range")
    }
    known = {
        f.column: list(f.categories)
        for f in features
        if data_quality.can_have(f, "unknown_category")
    }
    checks = {f.column: data_quality.checks(f) for f in features}
    quality = daily_feature_quality(
        engine, **where, columns=list(checks), known=known, ranges=ranges
    )
    return {
        "day_traffic": daily_traffic(engine, **where, slo_ms=slo).assign(
            slo_ms=slo, score_lo=lo, score_hi=hi
        ),
        "day_latency": daily_latency_bins(engine, **where),
        "day_traffic_score": daily_score_bins(
            engine, **where, lo=start, width=width, count=traffic.SCORE_BINS
        ),
        "day_quality": quality.assign(checks=quality["feature"].map(checks)),
        "day_batch": daily_batch_times(engine, **where),
    }
