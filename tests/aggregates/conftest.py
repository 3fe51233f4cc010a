"""Generated logs (200k rows) as Parquet and as a real store, and one Spark session per run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.aggregates import ParquetLogs, local_spark_session
from core.store import Store, log_tables
from tests.aggregates.generated_logs import MODEL_ID, Logs, generate, write_parquet


@pytest.fixture(scope="session")
def logs() -> Logs:
    """200k predictions over six days and two versions, with labels for about 60%."""
    return generate(rows=200_000, days=6)


@pytest.fixture(scope="session")
def parquet_logs(logs: Logs, tmp_path_factory: pytest.TempPathFactory) -> ParquetLogs:
    """LOGS as partitioned Parquet; version 1's first day was written before f5 existed."""
    return write_parquet(logs, tmp_path_factory.mktemp("parquet"), late_column=logs.categorical[-1])


@pytest.fixture(scope="session")
def logs_store(logs: Logs, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """LOGS in a real store's `pred_m1` and `label` tables, columns added as ingest adds them."""
    store = Store(tmp_path_factory.mktemp("store") / "store.duckdb", lock_wait_seconds=10)
    store.init()
    numeric = set(logs.bins)
    with store.write() as w:
        log_tables.ensure_tables(w, model_id=MODEL_ID)
        for name in [*logs.bins, *logs.categorical]:
            kind = "numeric" if name in numeric else "categorical"
            assert log_tables.feature_column(w, model_id=MODEL_ID, name=name, kind=kind) == name
        w.db.register("generated_predictions", logs.predictions)
        w.db.register("generated_labels", logs.labels)
        w.sql(
            f"INSERT INTO {log_tables.pred_table(MODEL_ID)} BY NAME "
            "SELECT * FROM generated_predictions"
        )
        w.sql("INSERT INTO label BY NAME SELECT * FROM generated_labels")
    return store


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The shared local Spark session (its JVM starts once per test run)."""
    session = local_spark_session()
    yield session
    session.stop()
