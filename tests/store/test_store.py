"""The store: versioned idempotent schema, revision counter, clear errors, and several processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.auth import Identity
from core.errors import InvalidInput, ModelBridgeError, NotFound, StoreBusy
from core.registry import get_model, list_models
from core.store import SCHEMA_VERSION, Store, log_tables
from tests.conftest import ROOT
from tests.factories import Case

HOLD_LOCK = (
    "import sys, time, duckdb\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "print('locked', flush=True)\n"
    "time.sleep(float(sys.argv[2]))\n"
)


@contextmanager
def lock_held_by_another_process(path: Path, seconds: float) -> Iterator[subprocess.Popen]:
    """A separate process holding the store file read-write for SECONDS."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def _schema_stamp(store: Store) -> str:
    with store.read() as r:
        return r.rows("SELECT value FROM store_meta WHERE key = 'schema_version'")[0][0]


def _table_names(store: Store) -> list[str]:
    with store.read() as r:
        return [row[0] for row in r.rows("SELECT table_name FROM duckdb_tables() ORDER BY 1")]


def test_initialising_a_store_twice_creates_it_once_and_keeps_its_data(tmp_path: Path) -> None:
    store = Store(tmp_path / "nested" / "store.duckdb")
    assert store.init() is True
    tables = _table_names(store)
    with store.write() as w:
        w.sql("INSERT INTO store_meta VALUES ('note', 'kept')")

    assert store.init() is False
    assert Store(store.path).init() is False
    assert _table_names(store) == tables
    assert {"model", "model_version", "app_user", "audit_event", "batch", "label"} <= set(tables)
    with store.read() as r:
        assert r.rows("SELECT value FROM store_meta WHERE key = 'note'") == [("kept",)]


def test_a_new_store_records_the_current_schema_version(store: Store) -> None:
    assert _schema_stamp(store) == str(SCHEMA_VERSION)


def test_a_store_from_a_newer_release_is_refused_with_an_upgrade_hint(store: Store) -> None:
    newer = SCHEMA_VERSION + 1
    with store.write() as w:
        w.sql("UPDATE store_meta SET value = ? WHERE key = 'schema_version'", [str(newer)])

    with pytest.raises(ModelBridgeError) as refused:
        Store(store.path).open()

    message = str(refused.value)
    assert f"schema {newer}" in message
    assert f"reads up to {SCHEMA_VERSION}" in message
    assert "upgrade modelbridge" in message
    assert _schema_stamp(store) == str(newer)  # refusing must not restamp it


def test_revision_changes_after_a_write_and_is_stable_across_reads(store: Store) -> None:
    before = store.revision()
    for _ in range(3):
        with store.read() as r:
            r.rows("SELECT count(*) FROM model")
    assert store.revision() == before

    with store.write() as w:
        w.sql("INSERT INTO store_meta VALUES ('note', 'a write')")
    after = store.revision()

    assert after != before
    with store.read() as r:
        r.rows("SELECT * FROM store_meta")
    assert store.revision() == after


def test_a_unit_of_work_that_fails_leaves_the_store_as_it_was(store: Store) -> None:
    with pytest.raises(RuntimeError), store.write() as w:
        w.sql("INSERT INTO store_meta VALUES ('half', 'written')")
        raise RuntimeError("crash in the middle")

    with store.read() as r:
        assert r.rows("SELECT count(*) FROM store_meta WHERE key = 'half'") == [(0,)]


def test_opening_a_missing_store_says_how_to_create_one(tmp_path: Path) -> None:
    missing = Store(tmp_path / "nowhere.duckdb")

    for attempt in (missing.require, missing.open):
        with pytest.raises(NotFound) as refused:
            attempt()
        assert str(missing.path) in str(refused.value)
        assert "modelbridge init" in str(refused.value)
        assert "MODELBRIDGE_DB" in str(refused.value)
    assert not missing.path.exists()


def test_a_file_that_is_not_a_store_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    not_a_store = tmp_path / "predictions.duckdb"
    not_a_store.write_text("request_id,score\nr1,0.5\n")

    with pytest.raises(InvalidInput) as refused:
        Store(not_a_store).open()

    assert f"cannot open {not_a_store} as a ModelBridge store" in str(refused.value)
    assert not_a_store.read_text() == "request_id,score\nr1,0.5\n"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("predictions.csv", b"request_id,score\nr1,0.5\n"),
        ("predictions.parquet", b"PAR1" + bytes(range(40)) + b"PAR1"),
        ("short.duckdb", b"DUCK"),
    ],
    ids=["csv", "parquet", "shorter-than-a-header"],
)
def test_every_entry_point_refuses_a_file_that_is_not_a_duckdb_store_and_leaves_it_untouched(
    tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    before = path.stat().st_mtime_ns

    for attempt in (
        lambda s: s.init(),
        lambda s: s.open(),
        lambda s: s.read().__enter__(),
        lambda s: s.write().__enter__(),
    ):
        with pytest.raises(InvalidInput) as refused:
            attempt(Store(path, lock_wait_seconds=1))
        assert str(refused.value) == (
            f"cannot open {path} as a ModelBridge store: it is not a DuckDB database file (left "
            "as it is); point --db / MODELBRIDGE_DB at a store, or create one at a new path with "
            "`modelbridge init`"
        )
    assert path.read_bytes() == content
    assert path.stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_folder_given_as_the_store_is_refused_and_left_empty(tmp_path: Path) -> None:
    folder = tmp_path / "stores"
    folder.mkdir()

    for attempt in (Store(folder).init, Store(folder).open):
        with pytest.raises(InvalidInput) as refused:
            attempt()
        assert str(refused.value) == (
            f"cannot open {folder} as a ModelBridge store: it is a folder; point --db / "
            "MODELBRIDGE_DB at a store file"
        )
    assert list(folder.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stores"]


def test_an_empty_file_is_refused_until_init_makes_it_a_store(tmp_path: Path) -> None:
    path = tmp_path / "made-by-mktemp.duckdb"
    path.touch()

    with pytest.raises(InvalidInput) as refused:
        Store(path).open()
    assert str(refused.value) == (
        f"cannot open {path} as a ModelBridge store: it is an empty file; create the store there "
        "with `modelbridge init`"
    )
    assert path.read_bytes() == b""

    assert Store(path).init() is True
    assert path.read_bytes()[8:12] == b"DUCK"
    assert _schema_stamp(Store(path)) == str(SCHEMA_VERSION)


def test_a_store_written_by_this_duckdb_has_the_header_the_check_relies_on(store: Store) -> None:
    assert store.path.read_bytes()[8:12] == b"DUCK"
    assert Store(store.path).open() is not None


def test_a_lock_held_briefly_by_another_process_is_waited_out(store: Store) -> None:
    patient = Store(store.path, lock_wait_seconds=20)
    with lock_held_by_another_process(store.path, 1.5):
        started = time.monotonic()
        with patient.read() as r:
            stamp = r.rows("SELECT value FROM store_meta WHERE key = 'schema_version'")
        waited = time.monotonic() - started

    assert stamp == [(str(SCHEMA_VERSION),)]
    assert 0.5 < waited < 15


def test_a_lock_held_too_long_ends_in_store_busy_after_the_bounded_wait(store: Store) -> None:
    impatient = Store(store.path, lock_wait_seconds=1)
    with lock_held_by_another_process(store.path, 60):
        started = time.monotonic()
        with pytest.raises(StoreBusy) as busy, impatient.read():
            pass
        waited = time.monotonic() - started

    assert 1 <= waited < 10
    assert str(store.path) in str(busy.value)
    assert "busy in another process" in str(busy.value)
    assert "Could not set lock" not in str(busy.value)


# --- a pipeline writing while the dashboard reads -----------------------------------------

WRITER = """
import json, subprocess, sys
db, files = sys.argv[1], sys.argv[2:]
for first in range(0, len(files), 3):
    done = subprocess.run(
        [sys.executable, "-m", "core", "ingest", "credit", *files[first:first + 3],
         "--db", db, "--json"],
        capture_output=True, text=True,
    )
    print(json.dumps({"code": done.returncode, "out": done.stdout, "err": done.stderr}),
          flush=True)
"""


@pytest.fixture
def fresh_streamlit_caches() -> Iterator[None]:
    """AppTest runs in this process: start and end with empty Streamlit caches."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def _log_parts(case: Case, folder: Path, parts: int) -> list[Path]:
    size = -(-len(case.frame) // parts)
    paths = []
    for i in range(parts):
        path = folder / f"logs_{i}.parquet"
        case.frame.iloc[i * size : (i + 1) * size].to_parquet(path, index=False)
        paths.append(path)
    return paths


def test_the_dashboard_and_a_pipeline_writer_share_the_store_without_lock_errors(
    credit_store: Store,
    binary_files: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fresh_streamlit_caches: None,
) -> None:
    from streamlit.testing.v1 import AppTest

    files = _log_parts(binary_files, tmp_path, 6)
    monkeypatch.setenv("MODELBRIDGE_DB", str(credit_store.path))
    with credit_store.read() as r:
        table = log_tables.pred_table(get_model(r, name="credit").id)
    reader = Store(credit_store.path, lock_wait_seconds=30)
    env = {k: v for k, v in os.environ.items() if k != "MODELBRIDGE_DB"}
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60)
    at.session_state["identity"] = Identity("engineer", "ml_engineer")
    counts, renders = [], 0

    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(credit_store.path), *map(str, files)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        while writer.poll() is None:
            with reader.read() as r:
                counts.append(r.rows(f"SELECT count(*) FROM {table}")[0][0])
                assert [m.name for m in list_models(r)] == ["credit"]
            at.run()
            renders += 1
            assert not at.exception, at.exception
            assert not at.error, [e.value for e in at.error]
            assert at.selectbox(key="overview_model").value == "credit"
            time.sleep(0.3)  # a person looking at the page, not a busy loop
        out, err = writer.communicate(timeout=120)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()

    runs = [json.loads(line) for line in out.splitlines()]
    assert err == ""
    assert [run["code"] for run in runs] == [0, 0]
    assert [run["err"] for run in runs] == ["", ""]
    ingested = [batch["rows_ingested"] for run in runs for batch in json.loads(run["out"])]
    assert ingested == [67, 67, 67, 67, 67, 65]
    assert counts == sorted(counts)  # a reader never sees a half-written file
    assert any(0 < n < 400 for n in counts)  # reads really interleaved with the writes
    assert renders >= 2

    with reader.read() as r:
        assert r.rows(f"SELECT count(*), count(DISTINCT batch_id) FROM {table}") == [(400, 6)]
