"""Evidently's DataDriftPreset on a reference/current Parquet pair, timed; prints JSON.

Runs inside Evidently's own virtual environment (evidently 0.7 needs pandas<3), not the
project's:

    python3 -m venv bench/work/evidently-venv
    bench/work/evidently-venv/bin/pip install evidently "pandas<3" pyarrow
    bench/work/evidently-venv/bin/python bench/peers/evidently_drift.py REF.parquet CUR.parquet \
        --exclude request_id,timestamp,score,target --runs 2

Timed apart, wall clock and CPU: importing evidently, reading both files into pandas, and each
Report.run (the first is "cold", the rest "warm"; all in this one process). Per column it
reports the method Evidently chose, its threshold, its value and the verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

# Tests that return a p-value: drift when the value falls below the threshold. Every other
# method is a distance: drift when it reaches the threshold (Evidently uses >=).
P_VALUE_METHODS = ("p_value", "p-value", "test")


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> dict[str, float]:
    wall, cpu = clock()
    return {"wall_s": round(wall - start[0], 4), "cpu_s": round(cpu - start[1], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reference")
    parser.add_argument("current")
    parser.add_argument("--exclude", default="", help="comma-separated columns to leave out")
    parser.add_argument("--runs", type=int, default=2, help="Report.run calls (first = cold)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    t = clock()
    import pandas as pd

    pandas_import = since(t)
    t = clock()
    import evidently
    from evidently import Report
    from evidently.presets import DataDriftPreset

    evidently_import = since(t)

    t = clock()
    exclude = {c for c in args.exclude.split(",") if c}
    import pyarrow.parquet as pq

    columns = [c for c in pq.read_schema(args.reference).names if c not in exclude]
    reference = pd.read_parquet(args.reference, columns=columns)
    current = pd.read_parquet(args.current, columns=columns)
    load = since(t)

    runs = []
    snapshot = None
    for _ in range(max(args.runs, 1)):
        report = Report([DataDriftPreset()])
        t = clock()
        snapshot = report.run(current_data=current, reference_data=reference)
        runs.append(since(t))

    t = clock()
    payload = snapshot.dict()
    extract = since(t)
    features = {}
    drifted_count = None
    for metric in payload["metrics"]:
        config = metric.get("config", {})
        kind = config.get("type", "")
        if kind.endswith("DriftedColumnsCount"):
            drifted_count = metric["value"]
        if not kind.endswith("ValueDrift"):
            continue
        method, threshold, value = config["method"], float(config["threshold"]), metric["value"]
        p_value = any(word in method.lower() for word in P_VALUE_METHODS)
        features[config["column"]] = {
            "method": method,
            "threshold": threshold,
            "value": float(value),
            "drifted": bool(value < threshold if p_value else value >= threshold),
            "dtype": str(reference[config["column"]].dtype),
        }
    json.dump(
        {
            "tool": "evidently",
            "version": evidently.__version__,
            "pandas": pd.__version__,
            "python": sys.version.split()[0],
            "rows": {"reference": len(reference), "current": len(current)},
            "columns": columns,
            "pandas_import": pandas_import,
            "evidently_import": evidently_import,
            "load": load,
            "runs": runs,
            "extract": extract,
            "drifted_columns_count": drifted_count,
            "features": features,
        },
        sys.stdout,
        indent=1,
    )


if __name__ == "__main__":
    main()
