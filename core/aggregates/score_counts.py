"""Per version, day and score bin: rows, their score sum, and how many are labelled and positive.

Prediction logs are joined to the model's labels on request_id; a row whose label has not
arrived is counted in `n` but not in `labelled` (unlabelled = n - labelled). The bins are those
of core.monitoring.performance.bin_sql (SCORE_BINS over [0, 1), scores outside clamped), or,
with ones_apart, those of the KPI curve (core.value.kpi.curve_counts: a score of 1 in a bin of
its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import ibis
import ibis.expr.types as ir
import pandas as pd

from core.aggregates.engines import Engine
from core.aggregates.frames import DAY, tidy
from core.monitoring.performance_statistics import SCORE_BINS

SCORE_COLUMNS = {
    "version": "int64", "day": DAY, "bin": "int64", "n": "int64", "score_sum": "float64",
    "labelled": "int64", "positives": "float64",
}  # fmt: skip


@dataclass(frozen=True)
class ScoreBins:
    """COUNT equal bins over [0, 1); with ones_apart, bin COUNT holds the scores of 1 (and
    above), as the KPI curve needs, instead of sharing the last bin."""

    count: int = SCORE_BINS
    ones_apart: bool = False

    def code(self, score: ir.FloatingValue) -> ir.IntegerValue:
        """A score's bin, as performance.bin_sql (or kpi.curve_counts) computes it."""
        top = self.count if self.ones_apart else self.count - 1
        return ibis.least(ibis.greatest((score * self.count).floor(), 0), top).cast("int64")


PERFORMANCE_BINS = ScoreBins()


def daily_score_counts(
    engine: Engine,
    *,
    model_id: int,
    version: int | None,
    days: Sequence[date],
    bins: ScoreBins = PERFORMANCE_BINS,
) -> pd.DataFrame:
    """Per version, day and score bin: n, score_sum, labelled and positives (sum of y)."""
    logs = engine.predictions(model_id=model_id, version=version, days=days)
    if logs is None:
        return tidy(None, SCORE_COLUMNS, [])
    labels = engine.labels(model_id=model_id)
    preds = logs.select("request_id", "version", "ts", "score")
    joined = preds.left_join(labels, preds.request_id == labels.request_id)
    got = engine.frame(
        joined.group_by(
            version=joined.version.cast("int64"),
            day=joined.ts.date(),
            bin=bins.code(joined.score.cast("float64")),
        ).aggregate(
            n=joined.count(),
            score_sum=joined.score.sum(),
            labelled=joined.y.count(),
            positives=joined.y.sum(),
        )
    )
    got["positives"] = got["positives"].fillna(0.0)  # a bin without labels has none
    return tidy(got, SCORE_COLUMNS, ["version", "day", "bin"])
