"""Benchmark: the threshold value curve over 1M labelled predictions (issue 6, target < 1 s).

Builds a store with N logged predictions and their labels through the public ingest path,
then times core.value.kpi.curve_counts (the DuckDB aggregate by score bin) plus threshold_curve
(every threshold at once) and the summary's exact value at the threshold.
Usage: uv run python bench/bench_kpi.py [--rows 1000000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from core.auth import Identity
from core.ingest import ingest_labels, ingest_predictions
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import Store
from core.value import business_case, kpi

WORK = Path(__file__).resolve().parent / "work" / "kpi"


def build(rows: int, store: Store) -> None:
    """Reference, N predictions with calibrated scores, and all their labels."""
    rng = np.random.default_rng(3)
    WORK.mkdir(parents=True, exist_ok=True)
    ref = pd.DataFrame({"x": rng.normal(size=5000)})
    ref["score"] = 1 / (1 + np.exp(-ref["x"]))
    ref["y"] = (rng.random(5000) < ref["score"]).astype(int)
    ref.to_parquet(WORK / "ref.parquet")
    x = rng.normal(size=rows)
    score = 1 / (1 + np.exp(-x))
    ids = [f"r{i}" for i in range(rows)]
    pd.DataFrame(
        {
            "request_id": ids,
            "x": x,
            "score": score,
            "timestamp": pd.date_range("2026-01-01", periods=rows, freq="10s"),
        }
    ).to_parquet(WORK / "logs.parquet")
    pd.DataFrame({"request_id": ids, "y": (rng.random(rows) < score).astype(int)}).to_parquet(
        WORK / "labels.parquet"
    )
    store.init()
    register_version(
        store,
        spec=RegistrationSpec(
            model="m",
            reference=WORK / "ref.parquet",
            target="y",
            prediction="score",
            task="binary",
            positive_label="1",
        ),
    )
    ingest_predictions(store, model="m", files=[WORK / "logs.parquet"])
    ingest_labels(store, model="m", files=[WORK / "labels.parquet"])
    business_case.save(
        store,
        model="m",
        by=Identity("bench", "product_owner"),
        changes={
            "threshold": 0.5,
            "value_tp": 100,
            "value_fp": -20,
            "value_tn": 5,
            "value_fn": -300,
        },
    )


def main() -> None:
    """Build (unless --keep) and time the curve."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    path = WORK / f"kpi_{args.rows}.duckdb"
    store = Store(path)
    if not (args.keep and path.exists()):
        for p in path.parent.glob(f"kpi_{args.rows}.duckdb*"):
            p.unlink()
        started = time.perf_counter()
        build(args.rows, store)
        print(f"built {args.rows:,} labelled predictions in {time.perf_counter() - started:.1f} s")
    timings = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        with store.read() as r:
            model = get_model(r, name="m")
            version = get_version(r, model=model)
            pos, neg = kpi.curve_counts(r, model=model, version=version)
            curve = kpi.threshold_curve(pos, neg, business_case.current(model))
            best = kpi.optimum(curve)
        timings.append(time.perf_counter() - started)
    c_fp, c_fn = 5 - (-20), 100 - (-300)
    result = {
        "rows": args.rows,
        "labelled": int(pos.sum() + neg.sum()),
        "curve_seconds_median": statistics.median(timings),
        "curve_seconds": timings,
        "optimal_threshold": best[0],
        "analytic_optimum": c_fp / (c_fp + c_fn),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
