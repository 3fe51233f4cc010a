"""Fixtures for log files: an embedded DuckDB connection, a log location, and log rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from core.logfiles import LogLocation


@pytest.fixture
def con() -> Any:
    """A worker's embedded DuckDB connection, pinned to UTC as the store's are."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    yield connection
    connection.close()


@pytest.fixture
def location(tmp_path: Path) -> LogLocation:
    """An empty log location in a temporary folder."""
    return LogLocation.parse(str(tmp_path / "logs"), create=True)


def make_predictions(
    con: Any,
    table: str,
    *,
    rows: int,
    first: int = 0,
    features: int = 3,
    versions: int = 1,
    days: int = 1,
    prefix: str = "r",
) -> None:
    """TABLE: prediction-log rows shaped like pred_m{id}, spread over VERSIONS and DAYS."""
    numbers = ", ".join(f"(i % 97) * {k} + 0.25 AS f{k}" for k in range(1, features + 1))
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT '{prefix}' || i AS request_id, "
        f"CAST(1 + i % {versions} AS INTEGER) AS version, "
        f"TIMESTAMP '2026-03-01' + to_days(CAST((i // {versions}) % {days} AS INTEGER)) "
        "+ to_microseconds((i * 7_000_003) % 86_400_000_000) AS ts, "
        "(i % 100) / 100 AS score, CAST(i % 13 AS DOUBLE) AS latency_ms, "
        f"'b' AS batch_id, NULL::VARCHAR AS extra, {numbers} "
        f"FROM range({first}, {first + rows}) t(i)"
    )
