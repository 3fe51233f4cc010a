"""Plotly figures drawn from tidy frames that core returns. No queries here.

Pages call `charts.<figure>`; each figure lives with its page's kind in a module below.
"""

from app.charts.drift import (
    distribution_overlay,
    drift_heatmap,
    realized_vs_estimated,
    signal_over_time,
)
from app.charts.explain import (
    MAX_SERIES,
    by_latest_rank,
    contribution_waterfall,
    importance_bars,
    rank_over_time,
    score_against_threshold,
)
from app.charts.traffic import (
    daily_volume,
    feature_heatmap,
    latency_percentiles,
    received_vs_quarantined,
    rejection_reasons,
    score_heatmap,
)
from app.charts.value import earnings_trend, kpi_over_time, value_curve

__all__ = [
    "MAX_SERIES",
    "by_latest_rank",
    "contribution_waterfall",
    "daily_volume",
    "distribution_overlay",
    "drift_heatmap",
    "earnings_trend",
    "feature_heatmap",
    "importance_bars",
    "kpi_over_time",
    "latency_percentiles",
    "rank_over_time",
    "realized_vs_estimated",
    "received_vs_quarantined",
    "rejection_reasons",
    "score_against_threshold",
    "score_heatmap",
    "signal_over_time",
    "value_curve",
]
