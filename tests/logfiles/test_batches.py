"""A batch becomes visible by one catalog commit: a crash before it leaves nothing visible and
files the cleaner removes, a retry is a no-op, and concurrent workers lose or double nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
from sqlmodel import select

from core.logfiles import (
    LogFile,
    LogLocation,
    StaleBatch,
    WrittenFile,
    clean_orphans,
    commit_rows,
    committed_view,
    write_files,
)
from core.store import Store
from tests.conftest import ROOT
from tests.logfiles.conftest import make_predictions

HOUR = 3600.0


def write(con: Any, location: LogLocation, batch_id: str, table: str) -> list[WrittenFile]:
    return write_files(
        con, location=location, kind="prediction", model_id=1, batch_id=batch_id,
        select_sql=f"SELECT * FROM {table}",
    )  # fmt: skip


def commit(store: Store, location: LogLocation, batch_id: str, files: list[WrittenFile]) -> None:
    with store.write() as w:
        w.session.add_all(commit_rows(files, batch_id=batch_id, location=location))


def committed_paths(store: Store) -> list[str]:
    with store.read() as r:
        return list(r.session.exec(select(LogFile.path)).all())


def visible(store: Store, location: LogLocation) -> list[tuple[str, int, int]]:
    """(request id prefix, rows, distinct request ids) of what a reader sees now."""
    reader = duckdb.connect()
    committed_view(
        reader, location=location, name="pred", files=committed_paths(store),
        columns={"request_id": "VARCHAR", "ts": "TIMESTAMP", "f1": "DOUBLE"},
    )  # fmt: skip
    return reader.execute(
        "SELECT split_part(request_id, '-', 1) AS batch, count(*), count(DISTINCT request_id) "
        "FROM pred GROUP BY ALL ORDER BY batch"
    ).fetchall()


def age(location: LogLocation, seconds: float) -> None:
    """Make every file under the location look written SECONDS ago."""
    then = time.time() - seconds
    for path in location.root.rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


def test_a_batch_becomes_visible_only_with_its_catalog_commit(
    con: Any, location: LogLocation, store: Store
) -> None:
    make_predictions(con, "accepted", rows=5000, days=2, prefix="one-")
    files = write(con, location, "b-one", "accepted")

    assert visible(store, location) == []

    commit(store, location, "b-one", files)

    assert visible(store, location) == [("one", 5000, 5000)]
    with store.read() as r:
        rows = r.session.exec(select(LogFile).order_by(LogFile.path)).all()
    assert [(f.path, f.batch_id, f.rows, f.bytes, f.sha256) for f in rows] == [
        (f.path, "b-one", f.rows, f.bytes, f.sha256) for f in files
    ]


def test_a_worker_writes_and_commits_inside_one_unit_of_work_on_the_store(
    location: LogLocation, store: Store
) -> None:
    # Today's embedded set-up: the connection that validated the file writes its files, and the
    # same transaction records them.
    with store.write() as w:
        w.sql(
            "CREATE TEMP TABLE accepted AS SELECT 'w-' || i AS request_id, 1 AS version, "
            "TIMESTAMP '2026-03-01' + to_minutes(i) AS ts, i / 10 AS f1 FROM range(3000) t(i)"
        )
        files = write_files(
            w.db, location=location, kind="prediction", model_id=1, batch_id="b-w",
            select_sql="SELECT * FROM accepted WHERE f1 >= ?", params=[100],
        )  # fmt: skip
        w.session.add_all(commit_rows(files, batch_id="b-w", location=location))

    assert [(f.day, f.rows) for f in files] == [(date(2026, 3, 1), 440), (date(2026, 3, 2), 1440),
                                                (date(2026, 3, 3), 120)]  # fmt: skip
    assert visible(store, location) == [("w", 2000, 2000)]


def test_a_crashed_batch_leaves_nothing_visible_and_is_cleaned_after_the_grace_period(
    con: Any, location: LogLocation, store: Store
) -> None:
    make_predictions(con, "first", rows=1000, prefix="kept-")
    commit(store, location, "b-kept", write(con, location, "b-kept", "first"))
    foreign = location.root / "README.txt"
    foreign.write_text("not ours")
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.logfiles.worker", str(location.root), str(store.path),
         "b-crash", "crash-", "3000000", "4", "", "--no-commit"],
        cwd=ROOT,
    )  # fmt: skip
    crash_folder = location.root / "kind=prediction/model=1/version=1"
    deadline = time.monotonic() + 120
    # Kill it once a partition is in place and the next one is being written.
    while not (
        list(crash_folder.glob("day=*/b-crash.parquet"))
        and list(crash_folder.glob("day=*/.b-crash.parquet.*.tmp"))
    ):
        assert worker.poll() is None and time.monotonic() < deadline, "worker ended first"
        time.sleep(0.02)
    os.kill(worker.pid, signal.SIGKILL)
    assert worker.wait(timeout=60) == -signal.SIGKILL
    left = sorted(p.relative_to(location.root).as_posix() for p in crash_folder.rglob("*b-crash*"))

    assert visible(store, location) == [("kept", 1000, 1000)]
    assert clean_orphans(
        location, committed_paths=committed_paths(store), grace_seconds=HOUR
    ) == []  # fmt: skip

    age(location, 2 * HOUR)
    removed = clean_orphans(location, committed_paths=committed_paths(store), grace_seconds=HOUR)

    assert removed == left
    assert any(p.endswith(".tmp") for p in removed) and any(p.endswith(".parquet") for p in removed)
    assert list(crash_folder.rglob("*b-crash*")) == []
    assert foreign.read_text() == "not ours"
    assert visible(store, location) == [("kept", 1000, 1000)]


def test_retrying_a_batch_rewrites_the_same_files_and_is_visible_once(
    con: Any, location: LogLocation, store: Store
) -> None:
    make_predictions(con, "accepted", rows=20_000, days=3, prefix="retry-")
    crashed = write(con, location, "b-retry", "accepted")  # the worker died before its commit

    retried = write(con, location, "b-retry", "accepted")
    commit(store, location, "b-retry", retried)

    assert [(f.path, f.sha256) for f in retried] == [(f.path, f.sha256) for f in crashed]
    assert visible(store, location) == [("retry", 20_000, 20_000)]
    # Committing the batch's files a second time is refused by the catalog, not doubled.
    with pytest.raises(sa.exc.IntegrityError):
        commit(store, location, "b-retry", write(con, location, "b-retry", "accepted"))
    assert visible(store, location) == [("retry", 20_000, 20_000)]
    assert clean_orphans(location, committed_paths=committed_paths(store), grace_seconds=0) == []


def test_two_workers_writing_the_same_model_and_day_at_once_both_become_visible(
    location: LogLocation, store: Store, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.logfiles.worker",
                str(location.root),
                str(store.path),
                f"b-{name}",
                f"{name}-",
                "300000",
                "2",
                str(gate),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for name in ("left", "right")
    ]
    deadline = time.monotonic() + 120
    while len(list(gate.glob("ready-*"))) < 2:
        assert time.monotonic() < deadline and all(w.poll() is None for w in workers)
        time.sleep(0.01)
    (gate / "go").touch()
    outputs = [w.communicate(timeout=300)[0].split() for w in workers]

    assert [w.returncode for w in workers] == [0, 0]
    assert [files for files, *_ in outputs] == ["2", "2"]
    (left_start, left_end), (right_start, right_end) = [map(float, o[1:]) for o in outputs]
    assert left_start < right_end and right_start < left_end, "the writes did not overlap"
    assert visible(store, location) == [("left", 300_000, 300_000), ("right", 300_000, 300_000)]
    assert sorted(p.name for p in location.root.rglob("*") if p.is_file()) == [
        "b-left.parquet", "b-left.parquet", "b-right.parquet", "b-right.parquet",
    ]  # fmt: skip


def test_files_too_old_or_gone_are_not_committed(
    con: Any, location: LogLocation, store: Store
) -> None:
    make_predictions(con, "accepted", rows=100, days=2, prefix="late-")
    files = write(con, location, "b-late", "accepted")
    age(location, 0.6 * HOUR)

    with pytest.raises(StaleBatch, match="too close to the 3600 s"):
        commit_rows(files, batch_id="b-late", location=location, grace_seconds=HOUR)

    location.path_of(files[0].path).unlink()
    with pytest.raises(StaleBatch, match="is gone"):
        commit_rows(files, batch_id="b-late", location=location, grace_seconds=10 * HOUR)
    assert committed_paths(store) == []


def test_the_cleaner_removes_only_names_the_writer_makes(location: LogLocation) -> None:
    ours = [
        "kind=label/model=2/day=2026-03-01/b-x.parquet",
        "kind=prediction/model=2/version=1/day=2026-03-01/.b-y.parquet.0a1b2c3d4e5f.tmp",
    ]
    theirs = [
        "notes/kind=prediction/x.parquet",
        "kind=prediction/model=2/_SUCCESS",
        "kind=prediction/model=2/version=1/data.csv",
        "kind=other/model=2/b-z.parquet",
    ]
    for relative in ours + theirs:
        path = location.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    age(location, 2 * HOUR)

    assert clean_orphans(location, committed_paths=[], grace_seconds=HOUR) == sorted(ours)
    assert all((location.root / p).exists() for p in theirs)


def test_the_catalog_table_is_created_with_the_store(store: Store) -> None:
    with store.read() as r:
        columns = [c for c, *_ in r.rows("DESCRIBE log_file")]
    assert columns == [
        "path", "batch_id", "kind", "model_id", "version", "day", "rows", "bytes", "sha256",
        "committed_at",
    ]  # fmt: skip


def test_the_catalog_holds_files_over_2_gib(store: Store) -> None:
    big = LogFile(
        path="kind=prediction/model=1/version=1/day=2026-03-01/b-big.parquet", batch_id="b-big",
        kind="prediction", model_id=1, version=1, day=date(2026, 3, 1), rows=3_000_000_000,
        bytes=5_000_000_000, sha256="0" * 64,
    )  # fmt: skip
    with store.write() as w:
        w.session.add(big)

    with store.read() as r:
        assert r.rows("SELECT rows, bytes FROM log_file") == [(3_000_000_000, 5_000_000_000)]
