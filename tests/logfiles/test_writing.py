"""Writing a batch: one Parquet file per partition, named by the batch, flushed and renamed
into place, with the same bytes when the same rows are written again."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from core.logfiles import LogLocation, WrittenFile, write_files
from tests.logfiles.conftest import make_predictions


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_batch_is_one_file_per_model_version_and_day(con: Any, location: LogLocation) -> None:
    make_predictions(con, "accepted", rows=10_000, versions=2, days=2)

    written = write_files(
        con, location=location, kind="prediction", model_id=7, batch_id="b-1",
        select_sql="SELECT * FROM accepted",
    )  # fmt: skip

    assert [(f.path, f.version, f.day, f.rows) for f in written] == [
        ("kind=prediction/model=7/version=1/day=2026-03-01/b-1.parquet", 1, date(2026, 3, 1), 2500),
        ("kind=prediction/model=7/version=1/day=2026-03-02/b-1.parquet", 1, date(2026, 3, 2), 2500),
        ("kind=prediction/model=7/version=2/day=2026-03-01/b-1.parquet", 2, date(2026, 3, 1), 2500),
        ("kind=prediction/model=7/version=2/day=2026-03-02/b-1.parquet", 2, date(2026, 3, 2), 2500),
    ]
    assert files_under(location.root) == [f.path for f in written]  # no temporary file left
    for file in written:
        on_disk = location.path_of(file.path).read_bytes()
        assert (file.kind, file.model_id) == ("prediction", 7)
        assert (file.bytes, file.sha256) == (len(on_disk), hashlib.sha256(on_disk).hexdigest())
        per_file = con.execute(
            "SELECT count(*), min(version), max(version), min(CAST(ts AS DATE)), "
            "max(CAST(ts AS DATE)) FROM read_parquet(?)",
            [str(location.path_of(file.path))],
        ).fetchall()
        assert per_file == [(2500, file.version, file.version, file.day, file.day)]


def test_labels_go_by_arrival_day_and_reference_rows_by_version(
    con: Any, location: LogLocation
) -> None:
    con.execute(
        "CREATE TABLE label AS SELECT 3 AS model_id, 'r' || i AS request_id, 'yes' AS label, "
        "1.0 AS y, TIMESTAMP '2026-03-01 23:00' + INTERVAL (i) HOUR AS arrived_at, "
        "'lb-1' AS batch_id FROM range(3) t(i)"
    )
    con.execute("CREATE TABLE ref AS SELECT 2 AS version, range AS row_no FROM range(5)")

    labels = write_files(
        con, location=location, kind="label", model_id=3, batch_id="lb-1",
        select_sql="SELECT * FROM label WHERE model_id = ?", params=[3],
    )  # fmt: skip
    reference = write_files(
        con, location=location, kind="reference", model_id=3, batch_id="ref-v2",
        select_sql="SELECT * FROM ref",
    )  # fmt: skip

    assert [(f.path, f.rows) for f in labels] == [
        ("kind=label/model=3/day=2026-03-01/lb-1.parquet", 1),
        ("kind=label/model=3/day=2026-03-02/lb-1.parquet", 2),
    ]
    assert [(f.path, f.version, f.day, f.rows) for f in reference] == [
        ("kind=reference/model=3/version=2/ref-v2.parquet", 2, None, 5)
    ]


def test_writing_the_same_rows_again_gives_the_same_paths_and_bytes(
    con: Any, location: LogLocation
) -> None:
    make_predictions(con, "accepted", rows=300_000, features=10, days=3)
    # Ingest turns order-keeping off for speed; the writer must not depend on it.
    con.execute("SET preserve_insertion_order = false")

    def write() -> list[WrittenFile]:
        return write_files(
            con, location=location, kind="prediction", model_id=1, batch_id="b-retry",
            select_sql="SELECT * FROM accepted",
        )  # fmt: skip

    first, again = write(), write()

    assert first == again
    assert len(first) == 3
    assert files_under(location.root) == [f.path for f in first]
    assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchall() == [
        (False,)
    ]


def test_zoned_timestamps_are_written_as_utc_wall_clock_time(
    con: Any, location: LogLocation
) -> None:
    con.execute("SET TimeZone = 'Asia/Tokyo'")
    # 23:30 UTC on 1 March is already 2 March in Tokyo: the day must still be UTC's.
    con.execute(
        "CREATE TABLE accepted AS SELECT 'r1' AS request_id, 1 AS version, "
        "TIMESTAMPTZ '2026-03-01 23:30:00+00' AS ts"
    )

    [file] = write_files(
        con, location=location, kind="prediction", model_id=1, batch_id="b-tz",
        select_sql="SELECT * FROM accepted",
    )  # fmt: skip

    assert file.day == date(2026, 3, 1)
    schema = con.execute(
        "SELECT name, type, logical_type FROM parquet_schema(?) WHERE name = 'ts'",
        [str(location.path_of(file.path))],
    ).fetchall()
    assert schema[0][:2] == ("ts", "INT64")
    assert "isAdjustedToUTC=0" in schema[0][2]
    assert con.execute(
        "SELECT CAST(ts AS VARCHAR) FROM read_parquet(?)", [str(location.path_of(file.path))]
    ).fetchall() == [("2026-03-01 23:30:00",)]


def test_no_rows_write_no_files(con: Any, location: LogLocation) -> None:
    make_predictions(con, "accepted", rows=0)

    assert write_files(
        con, location=location, kind="prediction", model_id=1, batch_id="b-empty",
        select_sql="SELECT * FROM accepted",
    ) == []  # fmt: skip
    assert files_under(location.root) == []


@pytest.mark.parametrize(
    ("select_sql", "batch_id", "message"),
    [
        ("SELECT 1 AS version", "b-1", "prediction rows need a 'ts' column"),
        ("SELECT 1 AS version, NULL::TIMESTAMP AS ts", "b-1", "1 prediction row.s. have no ts"),
        ("SELECT 1 AS version, now() AS ts", "../b-1", "cannot name a file"),
        ("SELECT 1 AS version, now() AS ts", ".hidden", "cannot name a file"),
    ],
)
def test_rows_that_cannot_be_placed_are_refused_before_any_file_is_written(
    con: Any, location: LogLocation, select_sql: str, batch_id: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_files(
            con, location=location, kind="prediction", model_id=1, batch_id=batch_id,
            select_sql=select_sql,
        )  # fmt: skip
    assert files_under(location.root) == []


def test_a_failed_write_leaves_no_temporary_file(
    con: Any, location: LogLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_predictions(con, "accepted", rows=100)

    def disk_gone(*_: object) -> None:
        raise OSError(5, "Input/output error")

    # Fails after the temporary file is complete, just before it would be renamed into place.
    monkeypatch.setattr("core.logfiles.writing.os.replace", disk_gone)
    with pytest.raises(OSError, match="Input/output error"):
        write_files(
            con, location=location, kind="prediction", model_id=1, batch_id="b-bad",
            select_sql="SELECT * FROM accepted",
        )  # fmt: skip
    assert files_under(location.root) == []
