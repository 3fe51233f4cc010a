"""A crash (kill -9) in the middle of a file leaves the store as it was; a rerun completes it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from core.store import Store
from tests import hostile_corpus as hc
from tests.conftest import ROOT, run_cli
from tests.factories import Case

BIG_ROWS = 2_000_000
BAD_EVERY = 100_000  # every 100,000th row has a score of 2: 20 rows to quarantine


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, binary_files: Case) -> Path:
    """A store file with 'credit' registered and a few rows and labels already in."""
    return hc.seed_store(tmp_path_factory.mktemp("seeded"), binary_files.reference)


@pytest.fixture
def store(seeded: Path, tmp_path: Path) -> Store:
    """A private copy of the seeded store."""
    shutil.copy(seeded, tmp_path / "store.duckdb")
    return Store(tmp_path / "store.duckdb", lock_wait_seconds=30)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two million log rows as Parquet, written by DuckDB in a second or two."""
    path = tmp_path_factory.mktemp("big") / "big.parquet"
    duckdb.sql(
        "COPY (SELECT 'big-' || i AS request_id, "
        "TIMESTAMP '2026-03-01' + INTERVAL (i % 86400) SECOND AS timestamp, "
        '15000 + (i % 20000) AS income, CAST(i % 50 AS DOUBLE) AS "debt ratio", '
        "['retail', 'sme', 'corporate'][i % 3 + 1] AS segment, "
        f"CASE WHEN i % {BAD_EVERY} = 7 THEN 2 ELSE 0.05 + (i % 90) / 100 END AS score, "
        f"12.5 AS latency_ms FROM range({BIG_ROWS}) r(i)) TO '{path}' (FORMAT parquet)"
    )
    return path


def _ingest_command(store: Store, path: Path) -> list[str]:
    return ["ingest", "credit", str(path), "--json", "--no-alerts", "--db", str(store.path)]


def _kill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL


def _assert_rerun_completes(store: Store, path: Path, read: int, ingested: int) -> None:
    ran = run_cli(*_ingest_command(store, path)[:-2], db=store.path)
    assert ran.code == 0, ran.err
    report = ran.json()
    assert (report["rows_read"], report["rows_ingested"]) == (read, ingested)
    assert report["rows_quarantined"] == read - ingested
    assert report["duplicate_of"] is None
    with store.read() as r:
        assert r.rows("SELECT count(*) FROM batch WHERE batch_id = ?", [report["batch_id"]]) == [
            (1,)
        ]


def test_a_kill_while_rows_are_being_written_leaves_the_store_as_it_was(
    store: Store, big_file: Path
) -> None:
    before = hc.store_state(store)
    size = store.path.stat().st_size
    process = subprocess.Popen(
        [sys.executable, "-m", "core", *_ingest_command(store, big_file)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # DuckDB writes the row groups of a large insert into the store file before the commit:
    # once the file grows, the transaction is under way and has written rows.
    deadline = time.monotonic() + 240
    while store.path.stat().st_size < size + (1 << 20):
        assert process.poll() is None, "the ingest finished before it could be killed"
        assert time.monotonic() < deadline, "the ingest never started writing rows"
        time.sleep(0.01)

    _kill(process)

    assert hc.store_state(store) == before
    _assert_rerun_completes(store, big_file, BIG_ROWS, BIG_ROWS - BIG_ROWS // BAD_EVERY)


STALL_BEFORE_COMMIT = """
import pathlib, sys, time
from core import cli
from core.ingest import jobs

record = jobs._record_batch

def record_then_stall(*args, **kwargs):
    record(*args, **kwargs)  # rows, quarantine and batch record written, not yet committed
    pathlib.Path(sys.argv[1]).touch()
    time.sleep(600)

jobs._record_batch = record_then_stall
sys.exit(cli.main(sys.argv[2:]))
"""


def test_a_kill_just_before_the_commit_leaves_no_trace(store: Store, tmp_path: Path) -> None:
    rows = hc.good_rows(10)
    rows[4]["score"] = "nope"
    path = hc.write_csv(tmp_path / "logs.csv", rows)
    marker = tmp_path / "stalled"
    before = hc.store_state(store)
    process = subprocess.Popen(
        [sys.executable, "-c", STALL_BEFORE_COMMIT, str(marker), *_ingest_command(store, path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert process.poll() is None, "the ingest ended before reaching the commit"
        assert time.monotonic() < deadline
        time.sleep(0.01)

    _kill(process)

    assert hc.store_state(store) == before
    _assert_rerun_completes(store, path, 10, 9)


def test_a_file_that_outgrows_the_memory_budget_is_retried_whole(
    store: Store, big_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.ingest import jobs as ingest

    tried: list[tuple[str | None, int | None]] = []
    once = ingest.Job._once

    def recording(self: ingest.Job, *args: object) -> ingest.BatchResult:
        tried.append(args[-1])  # type: ignore[arg-type]
        return once(self, *args)  # type: ignore[arg-type]

    # Budgets far too small for two million rows: the first two attempts run out of memory.
    monkeypatch.setattr(ingest, "INGEST_BUDGETS", (("20MB", None), ("20MB", 1), (None, None)))
    monkeypatch.setattr(ingest.Job, "_once", recording)

    (result,) = ingest.ingest_predictions(store, model="credit", files=[big_file])

    assert tried == [("20MB", None), ("20MB", 1), (None, None)]
    assert result.error is None
    assert (result.rows_read, result.rows_ingested) == (BIG_ROWS, BIG_ROWS - BIG_ROWS // BAD_EVERY)
    with store.read() as r:
        # One batch, each row once: the failed attempts left nothing behind.
        assert r.rows("SELECT count(*) FROM batch WHERE source = ?", [str(big_file)]) == [(1,)]
        assert r.rows(
            "SELECT count(*), count(DISTINCT request_id) FROM pred_m1 WHERE batch_id = ?",
            [result.batch_id],
        ) == [(result.rows_ingested, result.rows_ingested)]
        assert r.rows("SELECT current_setting('threads')")[0][0] > 1
