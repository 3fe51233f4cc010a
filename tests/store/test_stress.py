"""Processes taking turns on one store: no commit lost, no lock conflict mistaken for a fault."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.errors import StoreBusy
from core.store import Store

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
