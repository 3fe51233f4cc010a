"""A team store at 10M rows: ingest as Parquet, per-day counts, and drift read from the counts.

    uv run python bench/bench_drift.py --skip-pair --keep      # once: the data files
    uv run python bench/bench_day_counts.py                    # DuckDB counts
    uv run python bench/bench_day_counts.py --spark            # and then Spark counts them again

It starts a throwaway PostgreSQL (tests/postgres.py), makes a team store whose log location is
bench/work/day-counts/logs, registers the drift benchmark's 100k-row reference and ingests its 10
files of 1M rows (14 numeric + 6 categorical features over 30 days) through the public path,
without counting. Then, each in this one process:

1. refresh_day_counts on embedded DuckDB (and with --spark, again on Spark local[2] after every
   day is listed as changed): wall time and the rows it wrote to the catalog;
2. drift_by_window over 30 daily windows × 21 columns on the team store, from the counts (what
   a replica does) and from the Parquet logs (the same call with a start, which reads the
   logs), median of 3 after a first call; then what the Traffic, Data quality and Business
   value pages read, from the counts and, with every day listed as changed, from the logs;
3. the same from the embedded store the drift benchmark built (bench/work/drift), when present.

Peak RSS (VmHWM) of this process, and of Spark's JVM with --spark, is printed. Results: JSON in
bench/work/day-counts/results.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WORK = ROOT / "bench" / "work" / "day-counts"
DATA = ROOT / "bench" / "work" / "drift" / "scale-10000000x10-r100000-s42"
EMBEDDED = ROOT / "bench" / "work" / "drift" / "store-scale-10000000.duckdb"
MODEL = "drift_bench"


def peak_rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def jvm_peak_rss_mb() -> float | None:
    """Peak RSS of the JVM this process started for Spark (a java process below it)."""
    import os

    parents, javas = {}, []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            command = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        pid = status.parent.name
        parents[pid] = next(
            (ln.split()[1] for ln in text.splitlines() if ln.startswith("PPid:")), ""
        )
        if b"java" in command.split(b"\0")[0]:
            javas.append(pid)
    for pid in javas:
        above = parents.get(pid)
        while above and above not in ("0", "1"):
            if above == str(os.getpid()):
                return peak_rss_mb(pid)
            above = parents.get(above)
    return None


def timed(fn: Any, runs: int) -> tuple[float, list[float], Any]:
    """First call's seconds, then RUNS more; the median of those, all times and the result."""
    times, result = [], None
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        result = fn()
        times.append(round(time.perf_counter() - t0, 3))
    return statistics.median(times[1:]), times, result


def drift_call(store: Any, since: Any = None) -> Any:
    from core.monitoring.drift import drift_by_window
    from core.monitoring.windows import WindowSpec
    from core.registry import get_model, get_version

    with store.read() as r:
        model = get_model(r, name=MODEL)
        version = get_version(r, model=model, version=1)
        return drift_by_window(r, model=model, version=version, spec=WindowSpec("D"), since=since)


def pages_call(store: Any) -> dict[str, Any]:
    """What the Traffic, Data quality and Business value pages read, weekly: traffic per day,
    the score chart and totals; volume, feature rates and latency; value per window."""
    from core.monitoring import data_quality, traffic
    from core.monitoring.windows import WindowSpec
    from core.registry import features_of, get_model, get_version
    from core.value import kpi

    with store.read() as r:
        model = get_model(r, name=MODEL)
        version = get_version(r, model=model, version=1)
        flt = traffic.TrafficFilter(model.id)
        return {
            "traffic": traffic.daily_traffic(r, flt=flt),
            "scores": traffic.score_distribution(r, flt=flt, lo=0.0, hi=1.0),
            "totals": traffic.totals(r, flt=flt),
            "volume": data_quality.volume(r, model=model, period="W"),
            "rates": data_quality.feature_rates(
                r, model=model, features=features_of(version), period="W"
            ),
            "latency": data_quality.latency(r, model=model, period="W"),
            "value": kpi.by_window(r, model=model, version=version, spec=WindowSpec("W")),
        }


def agree(a: Any, b: Any) -> bool:
    """Whether two figures agree to 1e-9 (sums of days and of rows round differently)."""
    import pandas as pd

    try:
        if isinstance(a, dict):
            pd.testing.assert_series_equal(pd.Series(a, dtype=float), pd.Series(b, dtype=float))
        else:
            pd.testing.assert_frame_equal(
                a.reset_index(drop=True), b.reset_index(drop=True), check_exact=False,
                rtol=1e-9, check_dtype=False,
            )  # fmt: skip
    except AssertionError:
        return False
    return True


def list_every_day(store: Any) -> None:
    """List every counted day as changed: the next reads go to the logs, the next refresh
    counts them all again."""
    with store.write() as w:
        w.catalog(
            "INSERT INTO day_stale (model_id, version, day, generation) SELECT DISTINCT "
            "model_id, version, day, 1 FROM day_score ON CONFLICT DO NOTHING"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spark", action="store_true", help="also count on Spark local[2]")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    if not (DATA / "reference.parquet").exists():
        raise SystemExit("no data: run `uv run python bench/bench_drift.py --skip-pair --keep`")

    from core.aggregates import refresh_day_counts
    from core.ingest import ingest_predictions
    from core.monitoring.drift import calibrate_version
    from core.registry import RegistrationSpec, register_version
    from core.store import Store, TeamStore
    from tests import postgres

    out: dict[str, Any] = {"date": datetime.now().strftime("%Y-%m-%d %H:%M UTC")}
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    with postgres.server() as server:
        store = TeamStore(server.create(), lock_wait_seconds=60)
        store.init(logs=WORK / "logs")
        register_version(
            store,
            spec=RegistrationSpec(
                model=MODEL, reference=DATA / "reference.parquet", target="target",
                prediction="score", created_by="bench",
            ),
        )  # fmt: skip
        calibrate_version(store, model=MODEL, version=1)  # as `modelbridge register` does
        t0, rows = time.perf_counter(), 0
        for path in sorted(DATA.glob("logs-*.parquet")):
            (res,) = ingest_predictions(store, model=MODEL, files=[path])
            rows += res.rows_ingested
        ingest_s = time.perf_counter() - t0
        out["ingest"] = {"rows": rows, "s": round(ingest_s, 1), "rows_per_s": int(rows / ingest_s)}
        print(f"team ingest: {rows:,} rows in {ingest_s:.1f} s ({rows / ingest_s:,.0f} rows/s)")

        t0 = time.perf_counter()
        done = refresh_day_counts(store, engine="duckdb")
        out["count_duckdb"] = {
            "s": round(time.perf_counter() - t0, 1), "days": done.days, "rows": dict(done.rows),
        }  # fmt: skip
        print(f"counted on DuckDB: {out['count_duckdb']}")

        median, times, counted = timed(lambda: drift_call(store), args.runs)
        out["drift_from_counts"] = {"median_s": median, "times": times}
        print(f"drift from the counts: median {median:.3f} s {times}")
        median, times, scanned = timed(lambda: drift_call(store, datetime(2000, 1, 1)), args.runs)
        out["drift_from_parquet"] = {"median_s": median, "times": times}
        print(f"drift from the Parquet logs: median {median:.3f} s {times}")
        verdicts = counted["drifted"].equals(scanned["drifted"])
        gap = float((counted["value"] - scanned["value"]).abs().max())
        out["same_verdicts"], out["largest_value_gap"] = bool(verdicts), gap
        print(f"same verdicts both ways: {verdicts}; largest gap between values: {gap:.2e}")

        median, times, from_counts = timed(lambda: pages_call(store), args.runs)
        out["pages_from_counts"] = {"median_s": median, "times": times}
        print(f"traffic, quality and value pages from the counts: median {median:.3f} s {times}")
        list_every_day(store)
        median, times, from_logs = timed(lambda: pages_call(store), args.runs)
        out["pages_from_parquet"] = {"median_s": median, "times": times}
        print(f"the same from the Parquet logs: median {median:.3f} s {times}")
        same = {k: agree(from_counts[k], from_logs[k]) for k in from_counts}
        out["pages_identical"] = same
        print(f"identical figures both ways: {same}")

        if args.spark:
            t0 = time.perf_counter()
            done = refresh_day_counts(store, engine="spark")
            out["count_spark"] = {
                "s": round(time.perf_counter() - t0, 1), "days": done.days,
                "rows": dict(done.rows),
            }  # fmt: skip
            print(f"counted on Spark (session start included): {out['count_spark']}")
            out["jvm_peak_rss_mb"] = jvm_peak_rss_mb()
            print(f"peak RSS of Spark's JVM: {out['jvm_peak_rss_mb']} MB")

    if EMBEDDED.exists():
        median, times, _ = timed(lambda: drift_call(Store(EMBEDDED)), args.runs)
        out["drift_embedded"] = {"median_s": median, "times": times}
        print(f"drift on the embedded store: median {median:.3f} s {times}")
    out["peak_rss_mb"] = peak_rss_mb()
    print(f"peak RSS of this process: {out['peak_rss_mb']} MB")
    (WORK / "results.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
