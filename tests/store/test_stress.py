"""Processes taking turns on one store: every commit kept, every row and event accounted for.

DuckDB 2.0 reads a database file's headers before it takes its lock; a process that opened
while the previous one checkpointed on close worked from the old header and wrote that
process's commit away (core/store/turns.py). These tests hold ModelBridge's write paths to
"nothing committed is ever lost" with several processes at once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core import audit, registry, users
from core.errors import StoreBusy
from core.store import Store, log_tables
from tests import hostile_corpus as hc
from tests.conftest import ROOT

WORKERS = 4
CYCLES = 3
FILES_PER_CYCLE = 2  # per worker: each file ingested, then a sign-in (one audit event)
ROWS_PER_FILE = 3
PASSWORD = "stress-test-pw-1"

HOLD_READ_ONLY = (
    "import sys, time, duckdb\n"
    "con = duckdb.connect(sys.argv[1], read_only=True)\n"
    "print('locked', flush=True)\n"
    "time.sleep(60)\n"
)


@contextmanager
def read_only_holder(path: Path) -> Iterator[None]:
    """Another process (not ModelBridge) reading the store file read-only."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_READ_ONLY, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_a_write_while_another_process_reads_waits_and_ends_busy_not_read_only(
    store: Store,
) -> None:
    # DuckDB's lock message then adds "you would be able to open this database in read-only
    # mode", which once read as a read-only file system: the writer gave up at once.
    impatient = Store(store.path, lock_wait_seconds=1)
    with read_only_holder(store.path):
        started = time.monotonic()
        with pytest.raises(StoreBusy), impatient.write():
            pass
        waited = time.monotonic() - started

    assert 1 <= waited < 10


# --- a writer opening while the previous one checkpoints ---------------------------------

LATE_WRITER = """
import os, subprocess, sys, time
from pathlib import Path
from core import audit
from core.store import Store

store = Store(sys.argv[1], lock_wait_seconds=60)
# From here on each fcntl() of this process waits a second before it runs: DuckDB reads the
# file's headers, then waits that second before it takes its lock on the file.
tracer = subprocess.Popen(["strace", "-qq", "-f", "-o", "/dev/null", "-e", "trace=fcntl",
                           "-e", "inject=fcntl:delay_enter=1000000", "-p", str(os.getpid())])
while "TracerPid:\\t0" in Path("/proc/self/status").read_text():
    time.sleep(0.01)
Path(sys.argv[2]).touch()
with store.write() as w:
    audit.record(w, actor="late", action="stress")
tracer.terminate()
"""


def _can_trace() -> bool:
    if shutil.which("strace") is None:
        return False
    done = subprocess.run(["strace", "-qq", "-o", "/dev/null", "true"], capture_output=True)
    return done.returncode == 0


@pytest.mark.skipif(not _can_trace(), reason="needs strace and permission to trace")
def test_a_writer_opening_while_the_previous_one_checkpoints_keeps_its_commit(
    store: Store, tmp_path: Path
) -> None:
    ready = tmp_path / "late-writer-is-opening"
    with store.write() as w:
        audit.record(w, actor="first", action="stress")
        late = subprocess.Popen(
            [sys.executable, "-c", LATE_WRITER, str(store.path), str(ready)], cwd=ROOT
        )
        deadline = time.monotonic() + 120
        while not ready.exists() and time.monotonic() < deadline and late.poll() is None:
            time.sleep(0.01)
        assert ready.exists(), "the late writer did not start"
        time.sleep(0.5)  # it is opening the file now; this unit commits and checkpoints
    assert late.wait(timeout=120) == 0

    with store.read() as r:
        trail = r.rows("SELECT id, actor FROM audit_event ORDER BY id")
        problems = audit.verify(r)
    # Before the fix: [(1, 'late')], and the chain still verified.
    assert trail == [(1, "first"), (2, "late")]
    assert problems == []


# --- four processes ingesting and signing in while the dashboard reads -------------------

# Each worker reads a cycle's files and sign-in clients as one JSON line, ingests each file and
# signs in after it (every sign-in is audited), and answers with the batch ids it was given.
WORKER = """
import json, sys
from core import users
from core.ingest import ingest_predictions
from core.store import Store

store = Store(sys.argv[1], lock_wait_seconds=60)
print("ready", flush=True)
for line in sys.stdin:
    done = {"batches": []}
    try:
        for source, client in json.loads(line):
            [result] = ingest_predictions(store, model="credit", files=[source])
            if result.error or result.duplicate_of:
                raise RuntimeError(f"{source}: {result}")
            done["batches"].append(result.batch_id)
            users.sign_in(store, username="admin", password=sys.argv[2], client=client)
    except Exception as exc:
        done["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(done), flush=True)
"""

# The dashboard's reads (the Traffic page's totals and days, the Audit page's events and chain
# check), as app/data.py makes them, until the file STOP appears; then what it saw.
READER = """
import json, sys, time
from pathlib import Path
from core import audit, registry
from core.errors import StoreBusy
from core.monitoring import traffic
from core.store import Store

store, stop = Store(sys.argv[1], lock_wait_seconds=5), Path(sys.argv[2])
seen = {"reads": 0, "busy": 0, "errors": [], "went_back": []}
last = (0, 0)
print("ready", flush=True)
while not stop.exists():
    try:
        store.revision()
        with store.read() as r:
            entry = registry.get_model(r, name="credit")
            flt = traffic.TrafficFilter(entry.id)
            predictions = int(traffic.totals(r, flt=flt)["predictions"] or 0)
            traffic.daily_traffic(r, flt=flt)
            events = len(audit.events(r, limit=None))
            problems = audit.verify(r)
        if problems:
            seen["errors"].append(f"chain: {problems}")
        # A commit once seen and then gone is a lost commit.
        if predictions < last[0] or events < last[1]:
            seen["went_back"].append([last, [predictions, events]])
        last = (predictions, events)
        seen["reads"] += 1
    except StoreBusy:
        seen["busy"] += 1  # the documented path: the page says the store is busy
    except Exception as exc:
        seen["errors"].append(f"{type(exc).__name__}: {exc}")
    time.sleep(0.2)  # a page open in a browser, re-run now and then, not a busy loop
print(json.dumps(seen), flush=True)
"""


def _start(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _answer(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, f"process {process.pid} ended (code {process.wait()})"
    return line


def _stored(store: Store) -> tuple[list[str], list[str], list[str], list[str]]:
    """Request ids, prediction batch ids and sign-in clients in the store, and chain problems."""
    with store.read() as r:
        table = log_tables.pred_table(registry.get_model(r, name="credit").id or 0)
        ids = [i for (i,) in r.rows(f"SELECT request_id FROM {table} ORDER BY 1")]
        batches = [
            b for (b,) in r.rows("SELECT batch_id FROM batch WHERE kind = 'prediction' ORDER BY 1")
        ]
        clients = [
            c
            for (c,) in r.rows(
                "SELECT json_extract_string(after_state, '$.client') FROM audit_event "
                "WHERE action = 'sign_in' ORDER BY 1"
            )
        ]
        return ids, batches, clients, audit.verify(r)


def test_four_processes_ingesting_and_signing_in_while_the_dashboard_reads_lose_nothing(
    credit_store: Store, tmp_path: Path
) -> None:
    users.first_admin(credit_store, username="admin", password=PASSWORD)
    ids, batches, clients, _ = _stored(credit_store)
    before = len(batches)
    stop = tmp_path / "stop-reading"
    workers = [_start(WORKER, str(credit_store.path), PASSWORD) for _ in range(WORKERS)]
    reader = _start(READER, str(credit_store.path), str(stop))
    try:
        for process in [reader, *workers]:
            assert _answer(process).strip() == "ready"
        for cycle in range(CYCLES):
            for number, worker in enumerate(workers):
                given = []
                for k in range(FILES_PER_CYCLE):
                    name = f"w{number}c{cycle}f{k}"
                    rows = hc.good_rows(ROWS_PER_FILE, prefix=name)
                    source = hc.write_csv(tmp_path / f"{name}.csv", rows)
                    given.append((str(source), f"stress:{name}"))
                    ids += [row["request_id"] for row in rows]
                    clients.append(f"stress:{name}")
                assert worker.stdin is not None
                worker.stdin.write(json.dumps(given) + "\n")
                worker.stdin.flush()
            for worker in workers:
                report = json.loads(_answer(worker))
                assert report.get("error") is None
                batches += report["batches"]

            stored_ids, stored_batches, signed_in, problems = _stored(credit_store)
            assert stored_ids == sorted(ids)  # every row once: none lost, none doubled
            assert stored_batches == sorted(batches)  # every batch recorded once
            assert signed_in == sorted(clients)  # every audit event there, once
            assert problems == []  # and the chain verifies
        stop.touch()
        seen = json.loads(_answer(reader))
    finally:
        stop.touch()
        for process in [reader, *workers]:
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    assert len(batches) - before == WORKERS * CYCLES * FILES_PER_CYCLE
    assert seen["errors"] == []
    assert seen["went_back"] == []  # no reader ever saw a commit disappear
    assert seen["reads"] > 0
