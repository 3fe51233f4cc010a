"""Logs in a bucket vs in a folder (issue 17): writing a batch's accepted rows with
core.logfiles, and reading an aggregate back over the committed files, side by side.

    uv run python bench/bench_bucket.py                  # 2M rows over 7 days, 3 runs
    uv run python bench/bench_bucket.py --rows 500000    # quick look

The rows are bench_logfiles.py's (24 numeric and 6 categorical features). The bucket is on the
S3 server the tests use (moto's, tests/s3.py), a Python process on this machine: it measures
what ModelBridge adds on the way (a local file uploaded whole, reads through fsspec's s3fs),
not what a production store (AWS, MinIO) would give over a network. Each run writes the same
batch to a fresh folder and a fresh bucket prefix, then runs bench_logfiles.py's hourly
aggregate twice over each; the time to download the same files whole is the floor of a
read from that server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_logfiles import COLUMNS, aggregate_sql, generate  # noqa: E402


def _write(source: Path, location: Any) -> tuple[float, list[str]]:
    import duckdb

    from core.logfiles import write_files

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TEMP TABLE accepted AS SELECT * FROM read_parquet(?)", [str(source)])
    t0 = time.perf_counter()
    files = write_files(
        con, location=location, kind="prediction", model_id=1, batch_id="b-bench",
        select_sql="SELECT * FROM accepted",
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    con.close()
    return seconds, [f.path for f in files]


def _read(location: Any, files: list[str]) -> tuple[list[float], list[Any]]:
    import duckdb

    from core.logfiles import committed_view

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    types = [c.split(" ")[:2] for part in COLUMNS for c in part.split(", ")]
    times, result = [], []
    for _ in range(2):
        t0 = time.perf_counter()
        committed_view(con, location=location, name="pred", files=files, columns=dict(types))
        result = con.execute(aggregate_sql("pred")).fetchall()
        times.append(time.perf_counter() - t0)
    con.close()
    return times, [len(result), sum(r[1] for r in result), round(sum(r[2] for r in result), 6)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import s3fs

    from core.logfiles import LogLocation
    from tests import s3

    load_before = os.getloadavg()
    source = generate(args.rows, args.days)
    results: dict[str, dict[str, list[Any]]] = {
        "folder": {"write_s": [], "read_s": [], "checksum": []},
        "bucket": {"write_s": [], "read_s": [], "checksum": []},
    }
    downloads: list[float] = []
    with s3.running() as server, tempfile.TemporaryDirectory() as scratch:
        os.environ.update(server.environment)
        s3fs.S3FileSystem.clear_instance_cache()
        bucket = server.bucket()
        for run in range(args.runs):
            folder = Path(scratch) / f"logs-{run}"
            places = {
                "folder": LogLocation.parse(str(folder), create=True),
                "bucket": LogLocation.parse(f"s3://{bucket}/run-{run}"),
            }
            for name, location in places.items():
                written, files = _write(source, location)
                read, checksum = _read(location, files)
                results[name]["write_s"].append(round(written, 2))
                results[name]["read_s"].append([round(t, 2) for t in read])
                results[name]["checksum"].append(checksum)
                if location.remote is not None:  # the bytes alone, fetched whole: the floor
                    t0 = time.perf_counter()
                    for path in files:
                        location.remote.fs.cat_file(location.remote.key(path))
                    downloads.append(round(time.perf_counter() - t0, 2))
            shutil.rmtree(folder)

    def median(name: str, key: str, pick: int | None = None) -> float:
        values = results[name][key]
        return statistics.median(v[pick] if pick is not None else v for v in values)

    summary = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "uv run python bench/bench_bucket.py " + " ".join(sys.argv[1:]),
        "rows": args.rows,
        "days": args.days,
        "source_mb": round(source.stat().st_size / 2**20, 1),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        **{f"{n}_{k}": v for n, r in results.items() for k, v in r.items() if k != "checksum"},
        "bucket_download_whole_files_s": downloads,
        "write_ratio_bucket_to_folder": round(
            median("bucket", "write_s") / median("folder", "write_s"), 2
        ),
        "first_read_ratio_bucket_to_folder": round(
            median("bucket", "read_s", 0) / median("folder", "read_s", 0), 2
        ),
        "bucket_rows_per_s_median": round(args.rows / median("bucket", "write_s")),
        "same_answer": all(
            c == results["folder"]["checksum"][0] for r in results.values() for c in r["checksum"]
        ),
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
