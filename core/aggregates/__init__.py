"""Per-day counts over prediction logs, defined once and run on embedded DuckDB or on Spark."""

from core.aggregates.day_counts import ENGINES, Refreshed, refresh_day_counts
from core.aggregates.engines import Engine, ParquetLogs, StoreTables, duckdb_engine, spark_engine
from core.aggregates.feature_counts import (
    NEG_INF,
    POS_INF,
    as_histogram_bins,
    daily_category_counts,
    daily_numeric_counts,
)
from core.aggregates.score_counts import PERFORMANCE_BINS, ScoreBins, daily_score_counts
from core.aggregates.spark import local_spark_session
from core.aggregates.traffic_counts import (
    daily_feature_quality,
    daily_latency_bins,
    daily_score_bins,
    daily_traffic,
)

__all__ = [
    "ENGINES",
    "Refreshed",
    "refresh_day_counts",
    "Engine",
    "ParquetLogs",
    "StoreTables",
    "duckdb_engine",
    "spark_engine",
    "local_spark_session",
    "NEG_INF",
    "POS_INF",
    "as_histogram_bins",
    "daily_numeric_counts",
    "daily_category_counts",
    "ScoreBins",
    "PERFORMANCE_BINS",
    "daily_score_counts",
    "daily_score_bins",
    "daily_traffic",
    "daily_feature_quality",
    "daily_latency_bins",
]
