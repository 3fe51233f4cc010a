"""Four processes take turns on one DuckDB file: connect, insert, commit, close (issue 15).

Plain DuckDB, no ModelBridge: each process inserts a row (its number, its turn) per turn,
retrying the connect while another process holds the file, and counts the commits DuckDB
reported. After the run the rows are counted and the missing (process, turn) pairs named.
DuckDB 2.0 reads the file's headers before it takes its lock, so a process that opens while the
previous one checkpoints on close works from the old header and writes that commit away
(core/store/turns.py). Run: uv run python bench/duckdb_turns.py --runs 10
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import duckdb


def worker(path: str, proc: int, turns: int, q) -> None:
    committed, lock_retries, errors = [], 0, []
    for turn in range(turns):
        while True:
            try:
                con = duckdb.connect(path)
            except duckdb.IOException as exc:
                if "lock" in str(exc).lower():
                    lock_retries += 1
                    time.sleep(0.001 * random.random())
                    continue
                errors.append(f"connect {turn}: {exc}")
                break
            try:
                con.execute("BEGIN")
                con.execute("INSERT INTO t VALUES (?, ?, ?)", [proc, turn, os.getpid()])
                con.execute("COMMIT")
                committed.append(turn)
            except Exception as exc:
                errors.append(f"insert {turn}: {type(exc).__name__}: {exc}")
            finally:
                try:
                    con.close()
                except Exception as exc:
                    errors.append(f"close {turn}: {type(exc).__name__}: {exc}")
            break
    q.put((proc, committed, lock_retries, errors))


def one_run(workdir: Path, procs: int, turns: int) -> tuple[int, int, list[str], int]:
    path = str(workdir / f"t{time.monotonic_ns()}.duckdb")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE t (proc INTEGER, turn INTEGER, pid INTEGER)")
    con.close()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ps = [ctx.Process(target=worker, args=(path, i, turns, q)) for i in range(procs)]
    for p in ps:
        p.start()
    results = [q.get() for _ in ps]
    for p in ps:
        p.join()
    reported = sum(len(r[1]) for r in results)
    errors = [e for r in results for e in r[3]]
    retries = sum(r[2] for r in results)
    con = duckdb.connect(path, read_only=True)
    rows = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    present = set(con.execute("SELECT proc, turn FROM t").fetchall())
    con.close()
    want = {(r[0], t) for r in results for t in r[1]}
    missing = sorted(want - present)
    if missing:
        errors.append(f"missing rows: {missing}")
    return reported, rows, errors, retries


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--turns", type=int, default=50)
    args = ap.parse_args()
    print(f"duckdb {duckdb.__version__}, {args.procs} processes x {args.turns} turns")
    lost_runs = 0
    with tempfile.TemporaryDirectory() as d:
        for run in range(args.runs):
            t0 = time.monotonic()
            reported, rows, errors, retries = one_run(Path(d), args.procs, args.turns)
            lost_runs += rows != reported
            print(
                f"run {run + 1}: {reported} commits reported, {rows} rows, "
                f"{retries} lock retries, {time.monotonic() - t0:.1f} s"
                + (f"; {errors[:5]}" if errors else ""),
                flush=True,
            )
    print(f"{lost_runs} of {args.runs} runs lost or doubled rows")
    return 1 if lost_runs else 0


if __name__ == "__main__":
    sys.exit(main())
