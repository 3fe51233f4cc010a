"""Processes taking turns on one store: every commit kept, every row and event accounted for.

DuckDB 2.0 reads a database file's headers before it takes its lock; a process that opened
while the previous one checkpointed on close worked from the old header and wrote that
process's commit away (core/store/turns.py). These tests hold ModelBridge's write paths to
"nothing committed is ever lost" with several processes at once.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core import audit
from core.errors import StoreBusy
from core.store import Store
from tests.conftest import ROOT

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
