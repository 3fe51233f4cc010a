"""Aggregates on embedded DuckDB and on Spark (issue 17): the same per-day counts over the same
Parquet logs, timed, with peak memory, and checked equal.

    uv run python bench/bench_engines.py                 # 10M rows, 31 days, 30 numeric features
    uv run python bench/bench_engines.py --keep          # reuse the Parquet files already written
    uv run python bench/bench_engines.py --rows 1000000  # smoke run
    uv run python bench/bench_engines.py --engines duckdb   # DuckDB alone

The logs (two versions, 30 numeric + 2 categorical features with NaN, infinities and NULLs,
labels for 60% of requests) are written to bench/work/engines/ as
kind=prediction/model=1/version=<v>/day=<d>/*.parquet and kind=label/model=1/day=<d>/*.parquet.
Each engine then runs in a fresh process: DuckDB in-process (all cores), Spark in local mode
(local[2], the shared session of core.aggregates). Every aggregate of core.aggregates runs over
all the days: numeric bins of every feature (the drift case), category counts, score bins x
labels, traffic, missing/unknown per feature and latency bins. Peak memory is the high-water
mark of resident memory (VmHWM) of the Python process and, for Spark, of its JVM. The frames of
both engines are compared (counts exact, sums to 1e-9).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core import aggregates as agg
from core.monitoring.histograms import NumericBins

WORK = Path(__file__).resolve().parent / "work" / "engines"
FIRST_DAY = date(2026, 1, 1)
CATEGORIES = np.array(["north", "south", "east", "west", "unseen"])


def write_logs(root: Path, *, rows: int, days: int, numeric: int) -> None:
    """ROWS predictions spread over DAYS days (day by day, to bound memory) and their labels."""
    rng = np.random.default_rng(17)
    per_day = rows // days
    next_id = 0
    for d in range(days):
        n = per_day + (rows - per_day * days if d == days - 1 else 0)
        day = FIRST_DAY + timedelta(days=d)
        ids = pa.array(np.arange(next_id, next_id + n)).cast(pa.string())
        next_id += n
        start = np.datetime64(day, "us")
        ts = start + np.sort(rng.integers(0, 86_400_000_000, n)).astype("timedelta64[us]")
        version = np.where(rng.random(n) < 0.3, 1, 2).astype(np.int32)
        score = rng.beta(2, 5, n)
        latency = rng.lognormal(4, 1, n)
        cols: dict[str, Any] = {
            "request_id": ids, "ts": pa.array(ts, pa.timestamp("us")), "score": score,
            "latency_ms": pa.array(latency, mask=rng.random(n) < 0.05),
        }  # fmt: skip
        for i in range(numeric):
            x = rng.normal(0.02 * d * (i % 3 == 0), 1.0, n)  # every third feature drifts
            odd = rng.random(n)
            x[odd < 0.001] = np.nan
            x[odd > 0.999] = np.inf
            cols[f"f{i + 1}"] = pa.array(x, mask=(odd > 0.002) & (odd < 0.01), from_pandas=False)
        for j in range(2):
            picked = CATEGORIES[rng.choice(5, n, p=[0.3, 0.3, 0.2, 0.18, 0.02])]
            cols[f"c{j + 1}"] = pa.array(picked, mask=rng.random(n) < 0.01)
        table = pa.table({"version": version, **cols})
        for v in (1, 2):
            folder = root / "kind=prediction" / "model=1" / f"version={v}" / f"day={day}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.filter(pa.array(version == v)), folder / "part-0.parquet")
        labelled = rng.random(n) < 0.6
        labels = pa.table({
            "request_id": ids.filter(pa.array(labelled)),
            "y": (rng.random(labelled.sum()) < score[labelled]).astype(float),
        })  # fmt: skip
        folder = root / "kind=label" / "model=1" / f"day={day + timedelta(days=2)}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(labels, folder / "part-0.parquet")


def aggregates(days: list[date], numeric: int) -> dict[str, Any]:
    """Every aggregate over all DAYS, as (name, call on an engine)."""
    bins = {f"f{i + 1}": NumericBins(-2.58, 2.58) for i in range(numeric)}
    every = dict(model_id=1, version=None, days=days)
    return {
        "numeric_bins": lambda e: agg.daily_numeric_counts(e, **every, bins=bins),
        "categories": lambda e: agg.daily_category_counts(e, **every, columns=["c1", "c2"]),
        "score_labels": lambda e: agg.daily_score_counts(e, **every),
        "traffic": lambda e: agg.daily_traffic(e, **every, slo_ms=250.0),
        "quality": lambda e: agg.daily_feature_quality(
            e,
            **every,
            columns=[*bins, "c1", "c2"],
            known={"c1": ["north", "south", "east", "west"]},
        ),  # fmt: skip
        "latency_bins": lambda e: agg.daily_latency_bins(e, **every),
    }


def peak_rss_mb(pid: int) -> float:
    """High-water mark of a process's resident memory, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def java_descendants(pid: int) -> list[int]:
    """The java processes started under PID (Spark's JVM)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            if Path(f"/proc/{p}/comm").read_text().strip() == "java":
                found.append(p)
        except OSError:
            pass
    return found


def run_engine(name: str, root: Path, days: int, numeric: int, out: Path) -> dict[str, Any]:
    """In this (fresh) process: every aggregate on one engine, timed, frames saved to OUT."""
    import duckdb

    logs = agg.ParquetLogs(root)
    started = time.perf_counter()
    if name == "spark":
        engine = agg.spark_engine(agg.local_spark_session(), logs=logs)
    else:
        engine = agg.duckdb_engine(duckdb.connect(), logs=logs)
    result: dict[str, Any] = {"engine": name, "start_s": time.perf_counter() - started}
    all_days = [FIRST_DAY + timedelta(days=d) for d in range(days)]
    timings = {}
    for key, call in aggregates(all_days, numeric).items():
        t = time.perf_counter()
        frame = call(engine)
        timings[key] = time.perf_counter() - t
        frame.to_parquet(out / f"{name}-{key}.parquet")
    result["seconds"] = timings
    result["total_s"] = sum(timings.values())
    result["python_peak_mb"] = peak_rss_mb(os.getpid())
    jvms = java_descendants(os.getpid())
    result["jvm_peak_mb"] = sum(peak_rss_mb(p) for p in jvms) if jvms else 0.0
    result["load_avg"] = os.getloadavg()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--numeric", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="reuse the Parquet files")
    parser.add_argument(
        "--engines", nargs="+", choices=["duckdb", "spark"], default=["duckdb", "spark"]
    )
    parser.add_argument("--child", choices=["duckdb", "spark"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = WORK / f"logs-{args.rows}-{args.days}-{args.numeric}"
    out = WORK / "frames"
    if args.child:
        print(json.dumps(run_engine(args.child, root, args.days, args.numeric, out)))
        return
    if not (args.keep and root.exists()):
        subprocess.run(["rm", "-rf", str(root)], check=True)
        t = time.perf_counter()
        write_logs(root, rows=args.rows, days=args.days, numeric=args.numeric)
        print(f"wrote {args.rows:,} rows in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.engines:
        done = subprocess.run(
            [sys.executable, __file__, "--child", name, "--rows", str(args.rows), "--days",
             str(args.days), "--numeric", str(args.numeric)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), file=sys.stderr)
    if len(results) < 2:
        return
    for key in aggregates([], args.numeric):
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / f"spark-{key}.parquet"),
            pd.read_parquet(out / f"duckdb-{key}.parquet"),
            check_exact=False, rtol=1e-9,
        )  # fmt: skip
    duck, spark = results
    size_mb = sum(p.stat().st_size for p in root.rglob("*.parquet")) / 1e6
    print(f"\n{args.rows:,} rows, {args.days} days, {args.numeric} numeric + 2 categorical "
          f"features, {size_mb:,.0f} MB of Parquet; frames equal on both engines\n")  # fmt: skip
    print("| aggregate | DuckDB (s) | Spark local[2] (s) | Spark / DuckDB |")
    print("|---|---:|---:|---:|")
    for key in duck["seconds"]:
        d, s = duck["seconds"][key], spark["seconds"][key]
        print(f"| {key} | {d:.2f} | {s:.2f} | {s / d:.1f}x |")
    print(f"| **all** | **{duck['total_s']:.2f}** | **{spark['total_s']:.2f}** | "
          f"**{spark['total_s'] / duck['total_s']:.1f}x** |")  # fmt: skip
    print(f"| session start | {duck['start_s']:.2f} | {spark['start_s']:.2f} | |")
    print(f"| peak RSS, Python process (MB) | {duck['python_peak_mb']:.0f} | "
          f"{spark['python_peak_mb']:.0f} | |")  # fmt: skip
    print(f"| peak RSS, JVM (MB) | - | {spark['jvm_peak_mb']:.0f} | |")
    print(f"\nload average after each run: DuckDB {duck['load_avg'][0]:.1f}, "
          f"Spark {spark['load_avg'][0]:.1f} (2 cores)")  # fmt: skip


if __name__ == "__main__":
    main()
