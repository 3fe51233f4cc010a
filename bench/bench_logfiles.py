"""Logs as Parquet (issue 17): writing a batch's accepted rows as Parquet files with
core.logfiles vs today's insert into the store's DuckDB table, and reading an aggregate back.

    uv run python bench/bench_logfiles.py                 # 10M rows, 30 features, 3 runs
    uv run python bench/bench_logfiles.py --rows 1000000  # quick look
    uv run python bench/bench_logfiles.py --days 7        # a backfill: 7 partitions

Data (generated once into bench/work/logfiles-<rows>-d<days>/source.parquet): a prediction log
shaped like pred_m{id} with 24 numeric and 6 categorical features (f1..f30), one version, its
timestamps spread over DAYS days. Each measurement is a fresh child process on a fresh store
file that first loads the rows into a temporary table (untimed), as ingest holds the accepted
rows of a file, then times one of:
- parquet: core.logfiles.write_files of those rows (one file per day, flushed, renamed);
- table: today's `INSERT INTO pred_m1 SELECT ...` with commit, then closing the file (DuckDB
  checkpoints on close: the rows reach the store file only then), timed apart.
Read-back runs the same aggregate (per hour: rows, mean score, mean of every numeric feature,
share of one category per categorical feature) over the committed files through
committed_view and over the store's table, each in a fresh process: first and second run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
NUMERIC, CATEGORICAL = 24, 6
TARGET_ROWS_PER_S = 500_000

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COLUMNS = [
    "request_id VARCHAR NOT NULL, version INTEGER NOT NULL, ts TIMESTAMP NOT NULL",
    "score DOUBLE NOT NULL, latency_ms DOUBLE, batch_id VARCHAR NOT NULL, extra VARCHAR",
    *(f"f{k} DOUBLE" for k in range(1, NUMERIC + 1)),
    *(f"f{k} VARCHAR" for k in range(NUMERIC + 1, NUMERIC + CATEGORICAL + 1)),
]


def generate(rows: int, days: int) -> Path:
    """The source rows as one Parquet file (reused while it exists)."""
    import duckdb

    folder = WORK / f"logfiles-{rows}-d{days}"
    source = folder / "source.parquet"
    if source.exists():
        return source
    folder.mkdir(parents=True, exist_ok=True)
    numeric = ", ".join(
        f"round({10 * k} + {k} * (random() + random() + random() - 1.5), 4) AS f{k}"
        for k in range(1, NUMERIC + 1)
    )
    categorical = ", ".join(
        f"'level-' || CAST(floor(random() * {3 + 7 * k}) AS INTEGER) AS f{NUMERIC + k}"
        for k in range(1, CATEGORICAL + 1)
    )
    con = duckdb.connect()
    con.execute("SELECT setseed(0.42)")
    con.execute(
        "COPY (SELECT 'req-' || i AS request_id, 1 AS version, TIMESTAMP '2026-03-01' + "
        f"to_microseconds(CAST(i * (86400000000 * {days} // {rows}) AS BIGINT)) AS ts, "
        "random() AS score, round(5 + 20 * random(), 2) AS latency_ms, 'b-bench' AS batch_id, "
        f"NULL::VARCHAR AS extra, {numeric}, {categorical} FROM range({rows}) t(i)) "
        f"TO '{source}' (FORMAT parquet)"
    )
    return source


def aggregate_sql(relation: str) -> str:
    """Per hour: rows, mean score, every numeric feature's mean, one category's share each."""
    means = ", ".join(f"avg(f{k})" for k in range(1, NUMERIC + 1))
    shares = ", ".join(
        f"avg(CASE WHEN f{k} = 'level-1' THEN 1.0 ELSE 0.0 END)"
        for k in range(NUMERIC + 1, NUMERIC + CATEGORICAL + 1)
    )
    return (
        f"SELECT date_trunc('hour', ts) AS hour, count(*), avg(score), {means}, {shares} "
        f"FROM {relation} GROUP BY ALL ORDER BY hour"
    )


def child_write(mode: str, source: str, store: str, logs: str) -> dict[str, Any]:
    """Load the rows into a temporary table, then time writing them one way."""
    import duckdb

    from core.logfiles import LogLocation, write_files

    con = duckdb.connect(store)
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE TABLE IF NOT EXISTS pred_m1 ({', '.join(COLUMNS)})")
    con.execute("CREATE TEMP TABLE accepted AS SELECT * FROM read_parquet(?)", [source])
    con.execute("SET preserve_insertion_order = false")  # as ingest sets it
    report: dict[str, Any] = {}
    t0, cpu0 = time.perf_counter(), _cpu()
    if mode == "parquet":
        files = write_files(
            con,
            location=LogLocation.parse(logs, create=True),
            kind="prediction",
            model_id=1,
            batch_id="b-bench",
            select_sql="SELECT * FROM accepted",
        )
        report["seconds"], report["cpu_s"] = time.perf_counter() - t0, _cpu() - cpu0
        report["files"] = [[f.path, f.rows, f.bytes] for f in files]
        con.close()
    else:
        con.execute("BEGIN")
        con.execute("INSERT INTO pred_m1 SELECT * FROM accepted")
        con.execute("COMMIT")
        report["seconds"], report["cpu_s"] = time.perf_counter() - t0, _cpu() - cpu0
        t1, cpu1 = time.perf_counter(), _cpu()
        con.close()
        report["close_s"], report["close_cpu_s"] = time.perf_counter() - t1, _cpu() - cpu1
        report["store_mb"] = Path(store).stat().st_size / 2**20
    return report


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def child_read(mode: str, store: str, logs: str, files: list[str]) -> dict[str, Any]:
    """Time the aggregate twice in this process over the files or the table."""
    import duckdb

    from core.logfiles import LogLocation, committed_view

    if mode == "parquet":
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        types = [c.split(" ")[:2] for part in COLUMNS for c in part.split(", ")]
        committed_view(
            con,
            location=LogLocation.parse(logs),
            name="pred",
            files=files,
            columns={name: sql_type for name, sql_type in types},
        )
        relation = "pred"
    else:
        con = duckdb.connect(store, read_only=True)
        relation = "pred_m1"
    times, result = [], None
    for _ in range(2):
        t0 = time.perf_counter()
        result = con.execute(aggregate_sql(relation)).fetchall()
        times.append(time.perf_counter() - t0)
    assert result is not None
    checksum = [len(result), sum(r[1] for r in result), round(sum(r[2] for r in result), 6)]
    return {"seconds": times, "checksum": checksum}


def run_child(*args: str) -> dict[str, Any]:
    """One measurement in a fresh process; its JSON report."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _rounded(reports: list[dict[str, Any]]) -> list[list[float]]:
    return [[round(s, 2) for s in r["seconds"]] for r in reports]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, mode, *rest = args.child
        if kind == "write":
            print(json.dumps(child_write(mode, *rest)))
        else:
            print(json.dumps(child_read(mode, rest[0], rest[1], rest[2:])))
        return
    load_before = os.getloadavg()
    source = generate(args.rows, args.days)
    folder = source.parent
    store, logs = folder / "store.duckdb", folder / "logs"
    writes: dict[str, list[dict[str, Any]]] = {"parquet": [], "table": []}
    for _ in range(args.runs):
        for mode in ("parquet", "table"):
            if mode == "parquet":
                shutil.rmtree(logs, ignore_errors=True)
            else:
                store.unlink(missing_ok=True)
            writes[mode].append(run_child("write", mode, str(source), str(store), str(logs)))
    # The last runs left both the files and the table in place for the read-back.
    files = [path for path, _, _ in writes["parquet"][-1]["files"]]
    reads = {
        mode: [run_child("read", mode, str(store), str(logs), *files) for _ in range(args.runs)]
        for mode in ("parquet", "table")
    }
    summary = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "uv run python bench/bench_logfiles.py " + " ".join(sys.argv[1:]),
        "rows": args.rows,
        "days": args.days,
        "source_mb": round(source.stat().st_size / 2**20, 1),
        "nproc": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "parquet_write_s": [round(r["seconds"], 2) for r in writes["parquet"]],
        "parquet_write_cpu_s": [round(r["cpu_s"], 2) for r in writes["parquet"]],
        "parquet_rows_per_s_median": round(
            args.rows / statistics.median(r["seconds"] for r in writes["parquet"])
        ),
        "parquet_files": writes["parquet"][-1]["files"],
        "table_insert_commit_s": [round(r["seconds"], 2) for r in writes["table"]],
        "table_insert_commit_cpu_s": [round(r["cpu_s"], 2) for r in writes["table"]],
        "table_close_checkpoint_s": [round(r["close_s"], 2) for r in writes["table"]],
        "table_close_checkpoint_cpu_s": [round(r["close_cpu_s"], 2) for r in writes["table"]],
        "table_rows_per_s_median": round(
            args.rows / statistics.median(r["seconds"] for r in writes["table"])
        ),
        "table_rows_per_s_with_checkpoint_median": round(
            args.rows / statistics.median(r["seconds"] + r["close_s"] for r in writes["table"])
        ),
        "store_mb": round(writes["table"][-1]["store_mb"], 1),
        "read_parquet_first_second_s": _rounded(reads["parquet"]),
        "read_table_first_second_s": _rounded(reads["table"]),
        "same_answer": reads["parquet"][0]["checksum"] == reads["table"][0]["checksum"],
    }
    summary["parquet_meets_500k_rows_per_s"] = (
        summary["parquet_rows_per_s_median"] >= TARGET_ROWS_PER_S
    )
    print(json.dumps(summary, indent=1))
    (folder / "results.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
