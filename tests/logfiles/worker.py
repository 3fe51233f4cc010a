"""A pipeline worker in its own process: write a batch of log rows, then commit it.

python -m tests.logfiles.worker LOCATION STORE BATCH_ID PREFIX ROWS DAYS START_AT [--no-commit]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import duckdb

from core.logfiles import LogLocation, commit_rows, write_files
from core.store import Store
from tests.logfiles.conftest import make_predictions


def main(argv: list[str]) -> None:
    location, store, batch_id, prefix, rows, days, gate = argv[:7]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    make_predictions(con, "accepted", rows=int(rows), prefix=prefix, features=30, days=int(days))
    if gate:
        (Path(gate) / f"ready-{batch_id}").touch()
        while not (Path(gate) / "go").exists():
            time.sleep(0.01)
    started = time.time()
    logs = LogLocation.parse(location)
    files = write_files(
        con, location=logs, kind="prediction", model_id=1, batch_id=batch_id,
        select_sql="SELECT * FROM accepted",
    )  # fmt: skip
    ended = time.time()
    if "--no-commit" in argv:
        return
    with Store(store, lock_wait_seconds=60).write() as w:
        w.session.add_all(commit_rows(files, batch_id=batch_id, location=logs))
    print(len(files), started, ended)


if __name__ == "__main__":
    main(sys.argv[1:])
