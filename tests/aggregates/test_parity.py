"""Every aggregate gives the same frame on Spark as on embedded DuckDB, over the same 200k
generated rows in Parquet, and on DuckDB the same from Parquet as from the store's tables.

Counts are compared exactly; sums of floats agree to 1e-12 (the engines add in different
orders).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd
import pytest

from core import aggregates as agg
from core.aggregates import Engine
from core.store import Store
from tests.aggregates.generated_logs import CATEGORIES, MODEL_ID, Logs

Aggregate = Callable[[Engine, Logs], pd.DataFrame]
AGGREGATES: dict[str, Aggregate] = {
    "numeric bins": lambda e, logs: agg.daily_numeric_counts(
        e, model_id=MODEL_ID, version=None, days=logs.days, bins=logs.bins
    ),
    "categories": lambda e, logs: agg.daily_category_counts(
        e, model_id=MODEL_ID, version=None, days=logs.days, columns=logs.categorical
    ),
    "score bins x labels": lambda e, logs: agg.daily_score_counts(
        e, model_id=MODEL_ID, version=None, days=logs.days
    ),
    # Two days apart: only the files and rows of those days are read.
    "KPI curve bins of version 2": lambda e, logs: agg.daily_score_counts(
        e,
        model_id=MODEL_ID,
        version=2,
        days=[logs.days[1], logs.days[3]],
        bins=agg.ScoreBins(1000, ones_apart=True),
    ),  # fmt: skip
    "traffic": lambda e, logs: agg.daily_traffic(
        e, model_id=MODEL_ID, version=None, days=logs.days, slo_ms=250.0
    ),
    "missing and unknown": lambda e, logs: agg.daily_feature_quality(
        e,
        model_id=MODEL_ID,
        version=None,
        days=logs.days,
        columns=[*logs.bins, *logs.categorical],
        known={c: list(CATEGORIES) for c in logs.categorical},
    ),  # fmt: skip
    "latency bins": lambda e, logs: agg.daily_latency_bins(
        e, model_id=MODEL_ID, version=None, days=logs.days
    ),
}


def assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal frames: same columns, dtypes and rows; integers exact, floats to 1e-12."""
    assert len(expected) > 0
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12, atol=0)


@pytest.fixture(scope="module")
def on_duckdb(parquet_logs: agg.ParquetLogs, logs: Logs) -> dict[str, pd.DataFrame]:
    """Every aggregate computed by embedded DuckDB over the Parquet logs."""
    engine = agg.duckdb_engine(duckdb.connect(), logs=parquet_logs)
    return {name: aggregate(engine, logs) for name, aggregate in AGGREGATES.items()}


@pytest.mark.parametrize("name", AGGREGATES)
def test_duckdb_counts_the_same_from_the_store_tables_as_from_parquet(
    name: str, logs_store: Store, logs: Logs, on_duckdb: dict[str, pd.DataFrame]
) -> None:
    with logs_store.read() as r:
        got = AGGREGATES[name](agg.duckdb_engine(r.db, logs=agg.StoreTables()), logs)

    assert_same(got, on_duckdb[name])


@pytest.mark.spark
@pytest.mark.parametrize("name", AGGREGATES)
def test_spark_counts_exactly_what_duckdb_counts(
    name: str,
    spark: Any,
    parquet_logs: agg.ParquetLogs,
    logs: Logs,
    on_duckdb: dict[str, pd.DataFrame],
) -> None:
    got = AGGREGATES[name](agg.spark_engine(spark, logs=parquet_logs), logs)

    assert_same(got, on_duckdb[name])
