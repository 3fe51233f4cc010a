"""Reading committed log files: exactly the listed files, every value as it was written, and
typed columns whether or not a file has them."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import duckdb
import pytest

from core.errors import StoreFault
from core.logfiles import LogLocation, committed_view, write_files
from tests.logfiles.conftest import make_predictions

PRED_COLUMNS = {
    "request_id": "VARCHAR",
    "version": "INTEGER",
    "ts": "TIMESTAMP",
    "score": "DOUBLE",
    "latency_ms": "DOUBLE",
    "batch_id": "VARCHAR",
    "extra": "VARCHAR",
}
FEATURES = {f"f{k}": "DOUBLE" for k in range(1, 41)} | {"f41": "VARCHAR"}


def comparable(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with NaN spelled out, so that equal rows compare equal."""
    return [
        tuple("NaN" if isinstance(v, float) and math.isnan(v) else v for v in row) for row in rows
    ]


def write(con: Any, location: LogLocation, batch_id: str, table: str) -> list[str]:
    written = write_files(
        con, location=location, kind="prediction", model_id=1, batch_id=batch_id,
        select_sql=f"SELECT * FROM {table}",
    )  # fmt: skip
    return [f.path for f in written]


def test_every_value_reads_back_exactly_whatever_the_readers_time_zone(
    con: Any, location: LogLocation
) -> None:
    features = ", ".join(f"(i * {k}) / 7 AS f{k}" for k in range(4, 41))
    con.execute(
        "CREATE TABLE accepted AS SELECT "
        "CASE i WHEN 0 THEN 'Zürich – 東京 🚀' WHEN 1 THEN '' ELSE 'r' || i END AS request_id, "
        "CAST(1 AS INTEGER) AS version, "
        "CASE i WHEN 2 THEN TIMESTAMP '2026-03-01 23:59:59.999999' "
        "  WHEN 3 THEN TIMESTAMP '2026-03-02 00:00:00' "
        "  ELSE TIMESTAMP '2026-03-01 12:00' + to_seconds(i) END AS ts, "
        "i / 10 AS score, CASE WHEN i % 5 = 0 THEN NULL ELSE i * 1.5 END AS latency_ms, "
        "'b-all' AS batch_id, CASE WHEN i = 4 THEN '{\"note\": \"ünïcode\"}' END AS extra, "
        "CASE i WHEN 0 THEN 'NaN'::DOUBLE WHEN 1 THEN 'inf'::DOUBLE WHEN 2 THEN '-inf'::DOUBLE "
        "  WHEN 3 THEN NULL ELSE i + 0.1 END AS f1, "
        "-0.0 AS f2, 1e308 * (i % 2) + 5e-324 AS f3, "
        f"{features}, CASE WHEN i % 3 = 0 THEN NULL ELSE 'cat ' || (i % 4) END AS f41 "
        "FROM range(200) t(i)"
    )
    paths = write(con, location, "b-all", "accepted")
    reader = duckdb.connect()
    reader.execute("SET TimeZone = 'America/Los_Angeles'")

    committed_view(
        reader, location=location, name="pred", files=paths, columns=PRED_COLUMNS | FEATURES
    )

    order = "ORDER BY request_id"
    assert len(paths) == 2  # 23:59:59.999999 and 00:00:00 fall on two days
    assert comparable(reader.execute(f"SELECT * FROM pred {order}").fetchall()) == comparable(
        con.execute(f"SELECT * FROM accepted {order}").fetchall()
    )
    assert reader.execute(
        "SELECT ts FROM pred WHERE version = 1 AND request_id = 'r2'"
    ).fetchall() == [(datetime(2026, 3, 1, 23, 59, 59, 999999),)]
    assert reader.execute(
        "SELECT count(*) FILTER (isnan(f1)), count(*) FILTER (isinf(f1) AND f1 > 0), "
        "count(*) FILTER (isinf(f1) AND f1 < 0), count(*) FILTER (f1 IS NULL), "
        "count(*) FILTER (latency_ms IS NULL), count(*) FILTER (f41 IS NULL) FROM pred"
    ).fetchall() == [(1, 1, 1, 1, 40, 67)]


def test_only_the_listed_files_are_read(con: Any, location: LogLocation) -> None:
    make_predictions(con, "committed", rows=1000, prefix="c")
    make_predictions(con, "uncommitted", rows=500, prefix="u")
    committed = write(con, location, "b-committed", "committed")
    write(con, location, "b-crashed", "uncommitted")  # same folder, never committed

    committed_view(con, location=location, name="pred", files=committed, columns=PRED_COLUMNS)

    assert con.execute(
        "SELECT count(*), count(*) FILTER (request_id LIKE 'u%') FROM pred"
    ).fetchall() == [(1000, 0)]


def test_columns_added_later_read_as_null_in_older_files(con: Any, location: LogLocation) -> None:
    make_predictions(con, "older", rows=100, features=2, prefix="old")
    make_predictions(con, "newer", rows=50, features=3, prefix="new")
    paths = write(con, location, "b-old", "older") + write(con, location, "b-new", "newer")
    wanted = PRED_COLUMNS | {"f1": "DOUBLE", "f2": "DOUBLE", "f3": "DOUBLE", "f4": "VARCHAR"}

    committed_view(con, location=location, name="pred", files=paths, columns=wanted)

    assert con.execute(
        "SELECT left(request_id, 3) AS file, count(*), count(f2), count(f3), count(f4) "
        "FROM pred GROUP BY ALL ORDER BY file"
    ).fetchall() == [("new", 50, 50, 50, 0), ("old", 100, 100, 0, 0)]
    assert [(c, t) for c, t, *_ in con.execute("DESCRIBE pred").fetchall()][-4:] == [
        ("f1", "DOUBLE"), ("f2", "DOUBLE"), ("f3", "DOUBLE"), ("f4", "VARCHAR"),
    ]  # fmt: skip


def test_no_committed_files_give_an_empty_view_with_typed_columns(
    con: Any, location: LogLocation
) -> None:
    committed_view(con, location=location, name="pred", files=[], columns=PRED_COLUMNS)

    assert con.execute("SELECT count(*) FROM pred").fetchall() == [(0,)]
    assert {c: t for c, t, *_ in con.execute("DESCRIBE pred").fetchall()} == PRED_COLUMNS
    assert con.execute("SELECT max(ts) + INTERVAL 1 DAY, sum(score) FROM pred").fetchall() == [
        (None, None)
    ]


def test_a_committed_file_that_is_gone_is_reported_as_a_damaged_store(
    con: Any, location: LogLocation
) -> None:
    make_predictions(con, "accepted", rows=100, days=2)
    paths = write(con, location, "b-lost", "accepted")
    location.path_of(paths[1]).unlink()

    message = r"1 committed log file\(s\) are missing under .*day=2026-03-02/b-lost.parquet first"
    with pytest.raises(StoreFault, match=message):
        committed_view(con, location=location, name="pred", files=paths, columns=PRED_COLUMNS)
