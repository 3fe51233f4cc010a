"""When the store's file or disk fails: one plain line, no traceback, nothing half-written.

The read-only and full-disk cases mount a small tmpfs, which needs root; they are skipped where
mounting is not allowed.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.store import Store
from tests.conftest import ROOT, run_cli
from tests.factories import Case


def _mount(folder: Path, options: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "none", str(folder)], capture_output=True
    )
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    if not _mount(folder, "size=16m"):
        pytest.skip("mounting a tmpfs needs root")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_truncated_store_is_reported_in_one_line(credit_store: Store, tmp_path: Path) -> None:
    cut = tmp_path / "cut.duckdb"
    shutil.copy(credit_store.path, cut)
    with cut.open("r+b") as f:
        f.truncate(cut.stat().st_size // 2)

    ran = run_cli("versions", "credit", db=cut)

    assert ran.code == 2, ran.err
    assert "Traceback" not in ran.err
    assert ran.err.strip() == (
        f"modelbridge: error: the store file {cut} is damaged (truncated or corrupt); nothing "
        "was changed. Restore it from a backup, or point --db / MODELBRIDGE_DB at another store"
    )


def test_a_store_on_a_read_only_mount_is_read_and_refuses_changes_plainly(
    credit_store: Store, small_disk: Path
) -> None:
    shutil.copy(credit_store.path, small_disk / "store.duckdb")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    db = small_disk / "store.duckdb"

    listed = run_cli("versions", "credit", db=db)
    verified = run_cli("audit", "verify", db=db)
    changed = run_cli("business-case", "credit", "--set", "unit=USD", "--user", "x", db=db,
                      env={"MODELBRIDGE_PASSWORD": "whatever"})  # fmt: skip

    assert listed.code == 0 and "registered" in listed.out, listed.err
    assert (verified.code, verified.out.strip()) == (0, "the audit trail is intact")
    assert changed.code == 2 and "Traceback" not in changed.err
    assert "is on a read-only file system, so this cannot change it" in changed.err


def test_a_full_disk_rolls_the_ingest_back_whole_and_says_so(
    credit_store: Store, small_disk: Path, binary_files: Case
) -> None:
    db = small_disk / "store.duckdb"
    shutil.copy(credit_store.path, db)
    before = Store(db)
    with before.read() as r:
        rows_before = r.rows("SELECT count(*) FROM batch")[0][0]
    # Fill the disk to the last byte, so the ingest's writes cannot fit.
    filler = small_disk / "filler"
    with filler.open("wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)

    ran = run_cli("ingest", "credit", str(binary_files.logs), db=db)
    filler.unlink()

    assert ran.code == 2 and "Traceback" not in ran.err, ran.err
    assert "full" in ran.err and "run it again" in ran.err
    with Store(db).read() as r:
        assert r.rows("SELECT count(*) FROM batch")[0][0] == rows_before


def test_a_reader_that_stops_reading_gets_no_traceback(credit_store: Store) -> None:
    done = subprocess.run(
        f"{sys.executable} -m core audit list --limit 500 --db {credit_store.path} | head -1",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.stdout.startswith("id")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
