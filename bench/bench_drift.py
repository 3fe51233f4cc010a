"""Drift benchmark (issue 4, Performance): ModelBridge alone at 10M rows, and beside Evidently.

    uv run python bench/bench_drift.py                      # full run (~10-15 min, builds data)
    uv run python bench/bench_drift.py --keep               # reuse stores and files already built
    uv run python bench/bench_drift.py --rows 300000 --pair-rows 100000   # smoke run (~2 min)
    ... --autogroup-nice -15    # shared machine: give the benchmark's processes the CPUs (root)

Part 1, "scale": 10M prediction logs over 30 days (14 numeric + 6 categorical features, three of
them drifting part-way through), a 100k-row reference, written as Parquet and loaded through the
public path (core.registry.register_version, then core.ingest.ingest_predictions per file) into
bench/work/drift/. Then core.monitoring.drift.drift_by_window for 30 windows - period 'D' (30 days)
and chunk_size = ceil(rows / 30) - timed cold (first call in a fresh process, each in its own
process) and warm (repeated in one process), medians reported. One more process splits the time
into SQL statements vs Python (Work.frame/rows/sql timed, plus a cProfile).

Part 2, "pair": one 1M-row reference and one 1M-row current file (12 numeric + 8 categorical
features, some drifted by chosen amounts, some not). Evidently's DataDriftPreset runs in its own
virtual environment (bench/peers/evidently_drift.py, as a subprocess, reading the same Parquet
files); ModelBridge registers the reference, ingests the current file as one window (period 'D',
all of its rows are on one day) and computes drift. Both time the computation alone (wall clock,
imports and file loading reported apart), cold and warm, and report per-feature verdicts, which
are compared for the shared methods (Wasserstein normed for numeric, Jensen-Shannon for
categorical): ModelBridge's verdict (calibrated threshold and minimum effect) against Evidently's
(a fixed 0.1), and both values against that 0.1.

With --base-tree PATH (a checkout of the code before, e.g. `git worktree add
/work/wt/drift-base 1c505fc`), part 1 also times that tree's drift_by_window on the same store,
in fresh processes taking turns with this code's, and reports the ratio (target <= 1.3x).
Registration's extra step, the drift calibration of the reference, is timed apart.

Every timed step runs in a fresh interpreter after waiting (up to --quiet-wait s) for the other
processes on the machine to leave the cores idle; the machine's load is recorded beside each
figure. Results: a summary on stdout and JSON in bench/work/drift/results-<rows>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work" / "drift"
PEERS = ROOT / "bench" / "peers"
MODEL = "drift_bench"
PAIR_MODEL = "drift_pair"
DAYS = 30
WINDOWS = 30
N_NUMERIC = 14
CAT_SIZES = (3, 5, 8, 12, 30, 100)
SCALE_TARGET_S = 3.0
RATIO_TARGET = 20.0
BASE_RATIO_TARGET = 1.3
EVIDENTLY_VENV = ROOT / "bench" / "work" / "evidently-venv"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------------------------
# helpers


def _busy_jiffies() -> tuple[float, float]:
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields) - idle) / hz, sum(fields) / hz


def machine_busy(seconds: float = 1.0) -> float:
    """Share of all cores busy over a short sample (0 = idle, 1 = every core busy)."""
    b0, t0 = _busy_jiffies()
    time.sleep(seconds)
    b1, t1 = _busy_jiffies()
    return round((b1 - b0) / (t1 - t0), 3) if t1 > t0 else 0.0


def wait_until_quiet(max_wait: float, threshold: float = 0.15) -> dict[str, Any]:
    """Wait (up to max_wait s) until other processes leave the cores idle; say how it went."""
    t0 = time.monotonic()
    busy = machine_busy()
    while busy > threshold and time.monotonic() - t0 < max_wait:
        time.sleep(3)
        busy = machine_busy()
    return {
        "busy_share": busy,
        "waited_s": round(time.monotonic() - t0, 1),
        "quiet": busy <= threshold,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


class CpuClock:
    """Wall clock, this process's CPU seconds and the rest of the machine's over one span."""

    def __init__(self) -> None:
        self.wall0 = time.perf_counter()
        self.cpu0 = time.process_time()
        self.busy0, _ = _busy_jiffies()

    def read(self) -> dict[str, float]:
        wall = time.perf_counter() - self.wall0
        cpu = time.process_time() - self.cpu0
        busy, _ = _busy_jiffies()
        return {
            "wall_s": round(wall, 4),
            "cpu_s": round(cpu, 3),
            "other_cpu_s": round(max(busy - self.busy0 - cpu, 0.0), 2),
        }


def machine() -> dict[str, Any]:
    mem_kb = 0
    cpu = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import duckdb
    import numpy
    import pandas
    import scipy

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "mem_total_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "versions": {
            "duckdb": duckdb.__version__,
            "pandas": pandas.__version__,
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
        },
    }


def git_state() -> dict[str, Any]:
    def git(*a: str) -> str:
        try:
            return subprocess.run(
                ["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=20
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "uncommitted_in_measured_code": git(
            "status",
            "--short",
            "--",
            "core/monitoring/drift.py",
            "core/monitoring/histograms.py",
            "core/monitoring/bulk_histograms.py",
            "core/monitoring/drift_statistics.py",
            "core/monitoring/windows.py",
            "core/store/engine.py",
        ).splitlines(),
    }


def med(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# --------------------------------------------------------------------------------------------
# data: 10M-row logs over 30 days ("scale") and a 1M/1M reference/current pair ("pair")


def scale_folder(args: argparse.Namespace) -> Path:
    return WORK / f"scale-{args.rows}x{args.files}-r{args.ref_rows}-s{args.seed}"


def pair_folder(args: argparse.Namespace) -> Path:
    return WORK / f"pair-{args.pair_rows}-s{args.seed}"


def _manifest_ok(folder: Path, spec: dict, files: list[Path]) -> bool:
    mf = folder / "manifest.json"
    return (
        mf.exists()
        and json.loads(mf.read_text()).get("spec") == spec
        and all(p.exists() for p in files)
    )


def _ids(pa: Any, pc: Any, np: Any, prefix: str, first: int, n: int) -> Any:
    digits = pc.cast(pa.array(np.arange(first, first + n)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(digits, 10, "0"), "")


def gen_scale(args: argparse.Namespace) -> dict[str, Any]:
    """Reference and log files: feature num_01 shifts from day 15, num_02 widens from day 20,
    cat_1 changes its mix from day 25; the others keep the reference's distributions."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    folder = scale_folder(args)
    ref_path = folder / "reference.parquet"
    logs = [folder / f"logs-{i:02d}.parquet" for i in range(args.files)]
    spec = {
        "rows": args.rows,
        "files": args.files,
        "ref_rows": args.ref_rows,
        "seed": args.seed,
        "days": DAYS,
        "numeric": N_NUMERIC,
        "categorical": list(CAT_SIZES),
        "format": 1,
    }
    if _manifest_ok(folder, spec, [ref_path, *logs]):
        return {
            "reused": True,
            "folder": str(folder),
            "reference": str(ref_path),
            "logs": [str(p) for p in logs],
        }
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    loc = rng.uniform(-50, 500, N_NUMERIC)
    scale = rng.uniform(1, 100, N_NUMERIC)
    cat_values = [[f"c{j}_v{k:03d}" for k in range(size)] for j, size in enumerate(CAT_SIZES)]
    cat_probs = [rng.dirichlet(np.ones(size) * 2) for size in CAT_SIZES]
    drifted_cat1 = cat_probs[0][::-1].copy()
    missing_prone = {N_NUMERIC - 2, N_NUMERIC - 1}

    def features(n: int, r: Any, day: Any | None) -> dict[str, Any]:
        cols: dict[str, Any] = {}
        for j in range(N_NUMERIC):
            values = r.normal(loc[j], scale[j], n)
            if day is not None and j == 0:
                values += np.where(day >= 15, 0.5 * scale[j], 0.0)
            if day is not None and j == 1:
                values = np.where(day >= 20, loc[j] + (values - loc[j]) * 1.5, values)
            mask = r.random(n) < 0.02 if j in missing_prone else None
            cols[f"num_{j + 1:02d}"] = pa.array(values.round(3), mask=mask)
        for j, size in enumerate(CAT_SIZES):
            idx = r.choice(size, n, p=cat_probs[j]).astype(np.int32)
            if day is not None and j == 0:
                late = day >= 25
                idx[late] = r.choice(size, int(late.sum()), p=drifted_cat1).astype(np.int32)
            cols[f"cat_{j + 1}"] = pa.DictionaryArray.from_arrays(
                pa.array(idx), pa.array(cat_values[j])
            ).cast(pa.string())
        return cols

    r = np.random.default_rng(args.seed + 1)
    ref_score = r.beta(2, 5, args.ref_rows)
    pq.write_table(
        pa.table(
            {
                **features(args.ref_rows, r, None),
                "target": pa.array((r.random(args.ref_rows) < ref_score).astype(np.int8)),
                "score": pa.array(ref_score.round(6)),
            }
        ),
        ref_path,
    )
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    start_us = int(start.timestamp() * 1e6)
    span_us = DAYS * 86_400 * 1_000_000
    per_file = [args.rows // args.files + (i < args.rows % args.files) for i in range(args.files)]
    first = 0
    for i, (path, n) in enumerate(zip(logs, per_file, strict=True)):
        r = np.random.default_rng([args.seed, i])
        lo = start_us + span_us * i // args.files
        hi = start_us + span_us * (i + 1) // args.files
        ts = np.sort(r.integers(lo, hi, n))
        day = (ts - start_us) // (86_400 * 1_000_000)
        table = pa.table(
            {
                "request_id": _ids(pa, pc, np, "req-", first, n),
                "timestamp": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
                **features(n, r, day),
                "score": pa.array(r.beta(2, 5, n).round(6)),
                "latency_ms": pa.array(r.lognormal(3.4, 0.45, n).round(2)),
            }
        )
        pq.write_table(table, path, row_group_size=128 * 1024)
        first += n
    elapsed = round(time.perf_counter() - t0, 1)
    (folder / "manifest.json").write_text(json.dumps({"spec": spec, "generated_s": elapsed}))
    return {
        "reused": False,
        "generated_s": elapsed,
        "folder": str(folder),
        "reference": str(ref_path),
        "logs": [str(p) for p in logs],
    }


# The pair: name -> (kind, how the current file differs from the reference).
# Numeric features are N(loc, sd) unless said otherwise; "shift k" moves the mean by k sd (the
# normalised Wasserstein distance is then about k), "scale f" multiplies the spread by f
# (distance about |f - 1| * 0.8). Categorical "mix" features move a share of the rows to other
# values.
PAIR_FEATURES: dict[str, tuple[str, str]] = {
    "n_stable_a": ("numeric", "none"),
    "n_stable_b": ("numeric", "none (2% missing)"),
    "n_stable_lognormal": ("numeric", "none (skewed)"),
    "n_shift_0.03": ("numeric", "shift 0.03 sd"),
    "n_shift_0.07": ("numeric", "shift 0.07 sd"),
    "n_shift_0.13": ("numeric", "shift 0.13 sd"),
    "n_shift_0.5": ("numeric", "shift 0.5 sd"),
    "n_scale_1.08": ("numeric", "spread x1.08"),
    "n_scale_1.4": ("numeric", "spread x1.4"),
    "n_tail_5pct": ("numeric", "5% of rows move to +6 sd"),
    "n_int_0_9": ("numeric", "integers 0..9, mix changes slightly"),
    "n_int_0_3": ("numeric", "integers 0..3, mix changes"),
    "c_stable_3": ("categorical", "none"),
    "c_stable_50": ("categorical", "none"),
    "c_stable_missing": ("categorical", "none (5% missing)"),
    "c_mix_small": ("categorical", "3% of rows to another value"),
    "c_mix_large": ("categorical", "25% of rows to another value"),
    "c_new_value": ("categorical", "12% of rows take a value unseen in the reference"),
    "c_binary": ("categorical", "yes share 30% -> 34%"),
    "c_200_mix": ("categorical", "200 values, 15% of rows re-drawn from another mix"),
}


def gen_pair(args: argparse.Namespace) -> dict[str, Any]:
    """reference.parquet and current.parquet, PAIR_FEATURES plus id, timestamp, score, target."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    folder = pair_folder(args)
    ref_path, cur_path = folder / "reference.parquet", folder / "current.parquet"
    spec = {"rows": args.pair_rows, "seed": args.seed, "features": PAIR_FEATURES, "format": 1}
    if _manifest_ok(folder, spec, [ref_path, cur_path]):
        return {"reused": True, "reference": str(ref_path), "current": str(cur_path)}
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    n = args.pair_rows

    def cats(r: Any, values: list[str], p: Any, size: int, mask: Any = None) -> Any:
        idx = r.choice(len(values), size, p=p).astype(np.int32)
        arr = pa.DictionaryArray.from_arrays(pa.array(idx, mask=mask), pa.array(values))
        return arr.cast(pa.string())

    def moved(r: Any, idx: Any, share: float, k: int) -> Any:
        move = r.random(len(idx)) < share
        out = idx.copy()
        out[move] = (idx[move] + 1) % k
        return out

    def table(current: bool) -> Any:
        r = np.random.default_rng([args.seed, 7, int(current)])
        cols: dict[str, Any] = {}
        sd = 10.0

        def normal(shift: float = 0.0, spread: float = 1.0) -> Any:
            return (100 + shift * sd + r.normal(0, sd * spread, n)).round(4)

        cols["n_stable_a"] = pa.array(normal())
        cols["n_stable_b"] = pa.array(normal(), mask=r.random(n) < 0.02)
        cols["n_stable_lognormal"] = pa.array(r.lognormal(3.0, 0.8, n).round(4))
        cols["n_shift_0.03"] = pa.array(normal(0.03 if current else 0.0))
        cols["n_shift_0.07"] = pa.array(normal(0.07 if current else 0.0))
        cols["n_shift_0.13"] = pa.array(normal(0.13 if current else 0.0))
        cols["n_shift_0.5"] = pa.array(normal(0.5 if current else 0.0))
        cols["n_scale_1.08"] = pa.array(normal(spread=1.08 if current else 1.0))
        cols["n_scale_1.4"] = pa.array(normal(spread=1.4 if current else 1.0))
        tail = normal()
        if current:
            out = r.random(n) < 0.05
            tail[out] = (100 + 6 * sd + r.normal(0, sd * 0.3, int(out.sum()))).round(4)
        cols["n_tail_5pct"] = pa.array(tail)
        p10 = np.array([3, 8, 14, 18, 17, 14, 11, 8, 5, 2], dtype=float)
        p10 /= p10.sum()
        if current:
            p10 = 0.93 * p10 + 0.07 * np.roll(p10, 1)
        cols["n_int_0_9"] = pa.array(r.choice(10, n, p=p10).astype(np.int64))
        p4 = np.array([0.4, 0.3, 0.2, 0.1]) if not current else np.array([0.3, 0.3, 0.25, 0.15])
        cols["n_int_0_3"] = pa.array(r.choice(4, n, p=p4).astype(np.int64))
        rs = np.random.default_rng([args.seed, 99])  # mixes shared by both files
        v3, v50 = ["red", "green", "blue"], [f"s{k:02d}" for k in range(50)]
        p3, p50 = rs.dirichlet(np.ones(3) * 3), rs.dirichlet(np.ones(50) * 2)
        cols["c_stable_3"] = cats(r, v3, p3, n)
        cols["c_stable_50"] = cats(r, v50, p50, n)
        cols["c_stable_missing"] = cats(r, v3, p3, n, mask=r.random(n) < 0.05)
        v8 = [f"m{k}" for k in range(8)]
        p8 = rs.dirichlet(np.ones(8) * 3)
        for name, share in (("c_mix_small", 0.03), ("c_mix_large", 0.25)):
            idx = r.choice(8, n, p=p8)
            if current:
                idx = moved(r, idx, share, 8)
            cols[name] = pa.DictionaryArray.from_arrays(
                pa.array(idx.astype(np.int32)), pa.array(v8)
            ).cast(pa.string())
        vals = [*v8, "m_new"]
        idx = r.choice(8, n, p=p8)
        if current:
            idx = np.where(r.random(n) < 0.12, 8, idx)
        cols["c_new_value"] = pa.DictionaryArray.from_arrays(
            pa.array(idx.astype(np.int32)), pa.array(vals)
        ).cast(pa.string())
        yes = 0.34 if current else 0.30
        cols["c_binary"] = cats(r, ["no", "yes"], [1 - yes, yes], n)
        v200 = [f"z{k:03d}" for k in range(200)]
        p200 = rs.dirichlet(np.ones(200))
        q200 = rs.dirichlet(np.ones(200))
        idx = r.choice(200, n, p=p200)
        if current:
            redo = r.random(n) < 0.15
            idx[redo] = r.choice(200, int(redo.sum()), p=q200)
        cols["c_200_mix"] = pa.DictionaryArray.from_arrays(
            pa.array(idx.astype(np.int32)), pa.array(v200)
        ).cast(pa.string())
        score = r.beta(2, 5, n).round(6)
        extra: dict[str, Any] = {}
        if current:
            day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
                days=2
            )
            us = int(day.timestamp() * 1e6)
            ts = np.sort(r.integers(us, us + 86_400 * 1_000_000 - 1, n))
            extra = {
                "request_id": _ids(pa, pc, np, "cur-", 0, n),
                "timestamp": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
            }
        else:
            extra = {"target": pa.array((r.random(n) < score).astype(np.int8))}
        return pa.table({**extra, **cols, "score": pa.array(score)})

    pq.write_table(table(False), ref_path, row_group_size=128 * 1024)
    pq.write_table(table(True), cur_path, row_group_size=128 * 1024)
    elapsed = round(time.perf_counter() - t0, 1)
    (folder / "manifest.json").write_text(json.dumps({"spec": spec, "generated_s": elapsed}))
    return {
        "reused": False,
        "generated_s": elapsed,
        "reference": str(ref_path),
        "current": str(cur_path),
    }


# --------------------------------------------------------------------------------------------
# building the stores through the public path


def scale_db(args: argparse.Namespace) -> Path:
    return WORK / f"store-scale-{args.rows}.duckdb"


def pair_db(args: argparse.Namespace) -> Path:
    return WORK / f"store-pair-{args.pair_rows}.duckdb"


def _fresh_store(db: Path) -> Any:
    from core.store import Store

    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    shutil.rmtree(db.with_name(f"{db.stem}.artifacts"), ignore_errors=True)
    db.parent.mkdir(parents=True, exist_ok=True)
    store = Store(db, lock_wait_seconds=120)
    store.init()
    return store


def _built(db: Path, data: dict[str, Any]) -> dict[str, Any] | None:
    """The build record of DB when the store exists and was built from the same files."""
    marker = db.with_suffix(".built.json")
    if not (db.exists() and marker.exists()):
        return None
    record = json.loads(marker.read_text())
    return record if record.get("built_from") == data.get("folder", data.get("reference")) else None


def _calibrate(store: Any, model: str, version: int) -> float:
    """Seconds to compute and store the version's drift calibration, as registration does."""
    from core.monitoring.drift import calibrate_version

    t0 = time.perf_counter()
    calibrate_version(store, model=model, version=version)
    return round(time.perf_counter() - t0, 3)


def step_build_scale(args: argparse.Namespace) -> dict[str, Any]:
    """Register the reference and ingest every log file (or reuse the store with --keep)."""
    data = gen_scale(args)
    db = scale_db(args)
    if args.keep and (record := _built(db, data)):
        return {"data": data, "store": str(db), "reused": True, **record}
    from core.ingest import ingest_predictions
    from core.registry import RegistrationSpec, register_version

    store = _fresh_store(db)
    t0 = time.perf_counter()
    reg = register_version(
        store,
        spec=RegistrationSpec(
            model=MODEL,
            reference=data["reference"],
            target="target",
            prediction="score",
            created_by="bench",
        ),
    )
    register_s = time.perf_counter() - t0
    calibrate_s = _calibrate(store, MODEL, reg.version)
    files = []
    for path in data["logs"]:
        t1 = time.perf_counter()
        (res,) = ingest_predictions(store, model=MODEL, files=[path])
        if res.error or res.rows_quarantined:
            raise SystemExit(f"ingest of {path}: {res.error or res.reasons}")
        files.append(
            {
                "file": Path(path).name,
                "rows": res.rows_ingested,
                "seconds": round(time.perf_counter() - t1, 2),
            }
        )
        print(
            f"    ingested {Path(path).name}: {res.rows_ingested:,} rows in "
            f"{files[-1]['seconds']:.1f} s",
            flush=True,
        )
    record = {
        "built_from": data["folder"],
        "register_s": round(register_s, 2),
        "calibrate_s": calibrate_s,
        "reference_rows": reg.reference_rows,
        "features": reg.features,
        "ingest_s": round(sum(f["seconds"] for f in files), 2),
        "rows": sum(f["rows"] for f in files),
        "files": files,
        "store_mb": round(db.stat().st_size / 2**20, 1),
    }
    db.with_suffix(".built.json").write_text(json.dumps(record, indent=2))
    return {"data": data, "store": str(db), "reused": False, **record}


def step_build_pair(args: argparse.Namespace) -> dict[str, Any]:
    """Register the pair's reference and ingest its current file, each timed."""
    data = gen_pair(args)
    db = pair_db(args)
    if args.keep and (record := _built(db, data)):
        return {"data": data, "store": str(db), "reused": True, **record}
    t_imp = time.perf_counter()
    from core.ingest import ingest_predictions
    from core.registry import RegistrationSpec, register_version

    imports_s = time.perf_counter() - t_imp
    store = _fresh_store(db)
    t0 = time.perf_counter()
    reg = register_version(
        store,
        spec=RegistrationSpec(
            model=PAIR_MODEL,
            reference=data["reference"],
            target="target",
            prediction="score",
            created_by="bench",
        ),
    )
    register_s = time.perf_counter() - t0
    calibrate_s = _calibrate(store, PAIR_MODEL, reg.version)
    t1 = time.perf_counter()
    (res,) = ingest_predictions(store, model=PAIR_MODEL, files=[data["current"]])
    ingest_s = time.perf_counter() - t1
    if res.error or res.rows_quarantined:
        raise SystemExit(f"ingest of {data['current']}: {res.error or res.reasons}")
    record = {
        "built_from": data["reference"],
        "imports_s": round(imports_s, 2),
        "register_s": round(register_s, 2),
        "calibrate_s": calibrate_s,
        "ingest_s": round(ingest_s, 2),
        "reference_rows": reg.reference_rows,
        "rows": res.rows_ingested,
        "features": reg.features,
    }
    db.with_suffix(".built.json").write_text(json.dumps(record, indent=2))
    return {"data": data, "store": str(db), "reused": False, **record}


# --------------------------------------------------------------------------------------------
# timing core.monitoring.drift.drift_by_window


def _spec(kind: str, rows: int) -> Any:
    from core.monitoring.windows import WindowSpec

    return WindowSpec("D", None) if kind == "period" else WindowSpec(None, ceil_div(rows, WINDOWS))


def step_time(args: argparse.Namespace) -> dict[str, Any]:
    """In this fresh process: the first drift_by_window (cold), then --warm repeats."""
    db, model_name, kind = Path(args.db), args.model, args.window
    t_imp = time.perf_counter()
    import core.monitoring.drift as drift
    from core.registry import get_model, get_version
    from core.store import Store

    imports_s = time.perf_counter() - t_imp
    store = Store(db)
    t_open = time.perf_counter()
    with store.read() as r:
        model = get_model(r, name=model_name)
        version = get_version(r, model=model)
        rows = r.rows(f"SELECT count(*) FROM pred_m{int(model.id)}")[0][0]
    open_s = time.perf_counter() - t_open
    spec = _spec(kind, rows)

    def once() -> tuple[dict[str, float], Any]:
        with store.read() as r:  # a new connection per unit of work, as the app does
            clock = CpuClock()
            out = drift.drift_by_window(r, model=model, version=version, spec=spec)
            return clock.read(), out

    cold, frame = once()
    warm = [once()[0] for _ in range(args.warm)]
    same_conn = []
    with store.read() as r:
        for _ in range(args.warm):
            clock = CpuClock()
            drift.drift_by_window(r, model=model, version=version, spec=spec)
            same_conn.append(clock.read())
    result = {
        "core_file": drift.__file__,
        "window": kind,
        "spec": {"period": spec.period, "chunk_size": spec.chunk_size},
        "rows": rows,
        "imports_s": round(imports_s, 3),
        "first_open_s": round(open_s, 3),
        "cold": cold,
        "warm": warm,
        "warm_same_connection": same_conn,
        "windows": int(frame["window_start"].nunique()),
        "features": int(frame["feature"].nunique()),
        "records": len(frame),
    }
    if args.dump:
        frame.to_parquet(args.dump)
    return result


def step_profile(args: argparse.Namespace) -> dict[str, Any]:
    """One warm call with every SQL statement timed, and a cProfile of the Python side."""
    import cProfile
    import io
    import pstats

    import core.monitoring.drift as drift
    from core import store as store_mod
    from core.registry import get_model, get_version

    db, kind = Path(args.db), args.window
    store = store_mod.Store(db)
    with store.read() as r:
        model = get_model(r, name=args.model)
        version = get_version(r, model=model)
        rows = r.rows(f"SELECT count(*) FROM pred_m{int(model.id)}")[0][0]
    spec = _spec(kind, rows)
    with store.read() as r:
        drift.drift_by_window(r, model=model, version=version, spec=spec)  # warm-up
    statements: list[tuple[str, float]] = []
    originals = {n: getattr(store_mod.Work, n) for n in ("sql", "rows", "frame")}

    def timed(name: str) -> Any:
        orig = originals[name]

        def wrapped(self: Any, query: str, params: Any = None) -> Any:
            t0 = time.perf_counter()
            try:
                return orig(self, query, params)
            finally:
                statements.append((" ".join(query.split())[:110], time.perf_counter() - t0))

        return wrapped

    for n in originals:
        setattr(store_mod.Work, n, timed(n))
    try:
        with store.read() as r:
            t0 = time.perf_counter()
            drift.drift_by_window(r, model=model, version=version, spec=spec)
            total = time.perf_counter() - t0
    finally:
        for n, f in originals.items():
            setattr(store_mod.Work, n, f)
    prof = cProfile.Profile()  # a separate call: the profiler slows the Python side down
    with store.read() as r:
        prof.enable()
        drift.drift_by_window(r, model=model, version=version, spec=spec)
        prof.disable()
    sql_s = sum(s for _, s in statements)
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(12)
    top = sorted(statements, key=lambda x: -x[1])[:8]
    return {
        "window": kind,
        "total_s": round(total, 3),
        "sql_s": round(sql_s, 3),
        "python_s": round(total - sql_s, 3),
        "statements": len(statements),
        "slowest": [{"sql": q, "s": round(s, 3)} for q, s in top],
        "cprofile_tottime": buf.getvalue().splitlines()[:40],
    }


def step_pair_time(args: argparse.Namespace) -> dict[str, Any]:
    """ModelBridge on the pair: drift_by_window over the one window, cold then warm; verdicts."""
    t_imp = time.perf_counter()
    import core.monitoring.drift as drift
    from core.monitoring.windows import WindowSpec
    from core.registry import get_model, get_version
    from core.store import Store

    imports_s = time.perf_counter() - t_imp
    store = Store(Path(args.db))
    t_open = time.perf_counter()
    with store.read() as r:
        model = get_model(r, name=PAIR_MODEL)
        version = get_version(r, model=model)
    open_s = time.perf_counter() - t_open
    spec = WindowSpec("D", None)
    runs, frame = [], None
    for _ in range(1 + args.warm):
        with store.read() as r:
            clock = CpuClock()
            frame = drift.drift_by_window(r, model=model, version=version, spec=spec)
            runs.append(clock.read())
    assert frame is not None
    features: dict[str, Any] = {}
    for row in frame.itertuples():
        entry = features.setdefault(row.feature, {"kind": row.kind, "n": int(row.n), "methods": {}})
        entry["methods"][row.method] = {
            "value": float(row.value),
            "threshold": float(row.threshold),
            "signal": bool(row.signal),
        }
        if row.primary:
            entry["primary"] = row.method
            entry["drifted"] = bool(row.drifted)
            entry["rule"] = str(row.rule)
    return {
        "imports_s": round(imports_s, 3),
        "first_open_s": round(open_s, 3),
        "runs": runs,
        "windows": int(frame["window_start"].nunique()),
        "features": features,
    }


# --------------------------------------------------------------------------------------------
# Evidently, in its own virtual environment


def ensure_evidently(args: argparse.Namespace) -> Path:
    python = Path(args.evidently_venv) / "bin" / "python"
    if python.exists():
        return python
    print(
        f"  creating {args.evidently_venv} (python3 -m venv; pip install evidently 'pandas<3')",
        flush=True,
    )
    subprocess.run(["python3", "-m", "venv", str(args.evidently_venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "evidently", "pandas<3", "pyarrow"],
        check=True,
    )
    return python


def run_evidently(args: argparse.Namespace, data: dict[str, Any]) -> dict[str, Any]:
    python = ensure_evidently(args)
    quiet = wait_until_quiet(args.quiet_wait) if args.quiet_wait > 0 else None
    cmd = [
        str(python),
        str(PEERS / "evidently_drift.py"),
        data["reference"],
        data["current"],
        "--exclude",
        "request_id,timestamp,score,target",
        "--runs",
        str(args.evidently_runs),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"Evidently failed ({proc.returncode}): {proc.stderr[-3000:]}")
    out = json.loads(proc.stdout)
    out["process_wall_s"] = round(wall, 2)
    out["machine_before"] = quiet
    out["command"] = " ".join(cmd[1:]).replace(str(ROOT) + "/", "")
    return out


EVIDENTLY_METHOD = {
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensen_shannon",
    "PSI": "psi",
    "K-S p_value": "ks",
    "chi-square p_value": "chi_square",
}


def compare(mb: dict[str, Any], ev: dict[str, Any]) -> list[dict[str, Any]]:
    """Per feature: Evidently's method and verdict beside ModelBridge's.

    The method is shared when Evidently's choice is ModelBridge's primary method for the
    feature; otherwise ModelBridge's value for Evidently's method (if it computes one) and its
    primary verdict are shown, but not counted as agreeing or not.
    """
    rows = []
    for name, e in ev["features"].items():
        m = mb["features"].get(name)
        method = EVIDENTLY_METHOD.get(e["method"])
        same = m["methods"].get(method) if (m and method) else None
        primary = m["methods"][m["primary"]] if m else None
        shared = bool(m and method == m["primary"])
        rows.append(
            {
                "feature": name,
                "kind": m["kind"] if m else None,
                "drift": PAIR_FEATURES.get(name, ("", ""))[1],
                "evidently_method": e["method"],
                "evidently_value": e["value"],
                "evidently_threshold": e["threshold"],
                "evidently_drifted": e["drifted"],
                "modelbridge_primary": m["primary"] if m else None,
                "modelbridge_primary_value": primary["value"] if primary else None,
                "modelbridge_primary_alert": m["drifted"] if m else None,
                "modelbridge_rule": m["rule"] if m else None,
                "modelbridge_value": same["value"] if same else None,
                "modelbridge_threshold": same["threshold"] if same else None,
                "modelbridge_alert": same["signal"] if same else None,
                "modelbridge_over_threshold": (same["value"] > same["threshold"]) if same else None,
                "shared_method": method if shared else None,
                # The verdicts (ModelBridge: calibrated threshold and minimum effect; Evidently:
                # a fixed 0.1), and the values read against Evidently's own threshold.
                "agree": (m["drifted"] == e["drifted"]) if shared else None,
                "agree_on_value": ((same["value"] > e["threshold"]) == e["drifted"])
                if shared
                else None,
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# orchestration


def run_step(args: argparse.Namespace, step: str, *extra: str, quiet: bool = True) -> dict:
    """Run one step in a fresh interpreter (after waiting for a quiet machine)."""
    out = WORK / f"step-{step}.json"
    out.unlink(missing_ok=True)
    state = wait_until_quiet(args.quiet_wait) if quiet and args.quiet_wait > 0 else None
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--step",
        step,
        "--step-out",
        str(out),
        *forward(args),
        *extra,
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not out.exists():
        raise SystemExit(f"step {step} failed (exit {proc.returncode}): {' '.join(cmd)}")
    data = json.loads(out.read_text())
    data["process_wall_s"] = round(wall, 2)
    data["machine_before"] = state
    return data


def forward(args: argparse.Namespace) -> list[str]:
    out = [
        "--rows",
        str(args.rows),
        "--files",
        str(args.files),
        "--ref-rows",
        str(args.ref_rows),
        "--pair-rows",
        str(args.pair_rows),
        "--seed",
        str(args.seed),
    ]
    return out + (["--keep"] if args.keep else [])


STEPS = {
    "build-scale": step_build_scale,
    "build-pair": step_build_pair,
    "time": step_time,
    "profile": step_profile,
    "pair-time": step_pair_time,
}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000, help="logged rows (part 1)")
    p.add_argument("--files", type=int, default=10, help="Parquet files the logs come in")
    p.add_argument("--ref-rows", type=int, default=100_000, help="reference rows (part 1)")
    p.add_argument("--pair-rows", type=int, default=1_000_000, help="rows per file (part 2)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--keep", action="store_true", help="reuse data files and stores when built")
    p.add_argument("--cold-runs", type=int, default=3, help="fresh processes per window kind")
    p.add_argument("--warm", type=int, default=3, help="warm calls (each kind, in one process)")
    p.add_argument("--evidently-runs", type=int, default=2, help="Report.run calls (1 cold)")
    p.add_argument("--evidently-venv", default=str(EVIDENTLY_VENV))
    p.add_argument(
        "--base-tree",
        help="a checkout of the code to compare with (e.g. `git worktree add ../drift-base "
        "1c505fc`): its drift_by_window is timed on the same store, in turns with this code's",
    )
    p.add_argument("--skip-scale", action="store_true", help="leave out part 1")
    p.add_argument("--skip-pair", action="store_true", help="leave out part 2")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="seconds to wait for an idle machine before each timed step",
    )
    p.add_argument(
        "--autogroup-nice",
        type=int,
        help="shared machine: run the whole benchmark (ModelBridge and Evidently alike) in its "
        "own scheduling group with this nice value (-20..19; negative needs root)",
    )
    p.add_argument("--json", help="results file (default bench/work/drift/results-ROWS.json)")
    # internal: one step in this process
    p.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    p.add_argument("--step-out", help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--model", default=MODEL, help=argparse.SUPPRESS)
    p.add_argument("--window", choices=("period", "chunk"), help=argparse.SUPPRESS)
    p.add_argument("--dump", help=argparse.SUPPRESS)
    p.add_argument("--tree", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _verdict(flag: bool | None) -> str:
    return "" if flag is None else ("drift" if flag else "ok")


def fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f} s"


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    if args.step:
        if args.tree:  # time another checkout's code: its core wins the imports
            sys.path.insert(0, str(Path(args.tree).resolve()))
        data = STEPS[args.step](args)
        Path(args.step_out).write_text(json.dumps(data, indent=1, default=str))
        return
    if args.autogroup_nice is not None:
        if os.environ.get("BENCH_DRIFT_AUTOGROUP") != "1":
            # Linux schedules by session ("autogroup"): a plain `nice` only ranks processes
            # within their own session, so run the benchmark in a new session and rank that.
            child = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), *(argv or sys.argv[1:])],
                start_new_session=True,
                env={**os.environ, "BENCH_DRIFT_AUTOGROUP": "1"},
            )
            raise SystemExit(child.returncode)
        Path("/proc/self/autogroup").write_text(str(args.autogroup_nice))
    started = time.perf_counter()
    results: dict[str, Any] = {
        "autogroup_nice": args.autogroup_nice,
        "machine": machine(),
        "git": git_state(),
        "command": "uv run python bench/bench_drift.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
    }
    m = results["machine"]
    print(
        f"ModelBridge drift benchmark, {m['date']}, nproc={m['nproc']}, "
        f"{m['mem_total_gb']} GB, {m['cpu']}, duckdb {m['versions']['duckdb']}",
        flush=True,
    )
    if args.autogroup_nice is not None:
        print(f"  (run in its own scheduling group, autogroup nice {args.autogroup_nice})")
    if not args.skip_scale:
        results["scale"] = part_scale(args)
    if not args.skip_pair:
        results["pair"] = part_pair(args)
    results["total_wall_s"] = round(time.perf_counter() - started, 1)
    path = Path(args.json) if args.json else WORK / f"results-{args.rows}.json"
    path.write_text(json.dumps(results, indent=1, default=str))
    print(
        f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
        f"(total {results['total_wall_s']:.0f} s)"
    )


def part_scale(args: argparse.Namespace) -> dict[str, Any]:
    print(f"\n[1] {args.rows:,} logged rows over {DAYS} days, {WINDOWS} windows", flush=True)
    t0 = time.perf_counter()
    build = run_step(args, "build-scale", quiet=False)
    verb = "reused" if build["reused"] else "built"
    print(
        f"  store {verb} in {time.perf_counter() - t0:.0f} s: register {build['register_s']} s "
        f"(then the drift calibration of its {build['reference_rows']:,}-row reference "
        f"{build.get('calibrate_s')} s), "
        f"ingest {build['rows']:,} rows in {build['ingest_s']} s "
        f"({build['rows'] / max(build['ingest_s'], 1e-9):,.0f} rows/s)",
        flush=True,
    )
    db = build["store"]
    out: dict[str, Any] = {"build": build, "timings": {}, "profile": {}}
    for window in ("period", "chunk"):
        procs, base = [], []
        for i in range(args.cold_runs):  # this code and the base tree's, taking turns
            timed = ["--db", db, "--model", MODEL, "--window", window]
            warm = ["--warm", str(args.warm if i == 0 else 0)]  # warm calls in the first only
            procs.append(run_step(args, "time", *timed, *warm))
            if args.base_tree:
                base.append(run_step(args, "time", *timed, *warm, "--tree", args.base_tree))
        cold = [p["cold"]["wall_s"] for p in procs]
        warm = [w["wall_s"] for p in procs for w in p["warm"]]
        same = [w["wall_s"] for p in procs for w in p["warm_same_connection"]]
        summary = {
            "spec": procs[0]["spec"],
            "windows": procs[0]["windows"],
            "features": procs[0]["features"],
            "records": procs[0]["records"],
            "cold_s": cold,
            "cold_median_s": med(cold),
            "cold_cpu_median_s": med([p["cold"]["cpu_s"] for p in procs]),
            "warm_s": warm,
            "warm_median_s": med(warm),
            "warm_same_connection_median_s": med(same),
            "imports_median_s": med([p["imports_s"] for p in procs]),
            "first_open_median_s": med([p["first_open_s"] for p in procs]),
            "other_cpu_during_cold_s": [p["cold"]["other_cpu_s"] for p in procs],
            "machine_before": [p["machine_before"] for p in procs],
            "processes": procs,
        }
        if base:
            base_cold = [p["cold"]["wall_s"] for p in base]
            base_warm = [w["wall_s"] for p in base for w in p["warm"]]
            summary["base"] = {
                "tree": args.base_tree,
                "core_file": base[0]["core_file"],
                "cold_s": base_cold,
                "cold_median_s": med(base_cold),
                "warm_s": base_warm,
                "warm_median_s": med(base_warm),
                "processes": base,
            }
            ratio = summary["cold_median_s"] / summary["base"]["cold_median_s"]
            warm_ratio = (summary["warm_median_s"] or 0) / (med(base_warm) or 1)
            summary["ratio_to_base_cold"] = round(ratio, 3)
            summary["ratio_to_base_warm"] = round(warm_ratio, 3)
            print(
                f"  {window:6} base {args.base_tree}: cold median {fmt_s(med(base_cold))} of "
                f"{base_cold}, warm median {fmt_s(med(base_warm))}; this code / base: cold "
                f"{ratio:.2f}x, warm {warm_ratio:.2f}x; target <= {BASE_RATIO_TARGET}x: "
                + ("met" if max(ratio, warm_ratio) <= BASE_RATIO_TARGET else "MISSED"),
                flush=True,
            )
        out["timings"][window] = summary
        verdict = "met" if summary["cold_median_s"] < SCALE_TARGET_S else "MISSED"
        print(
            f"  {window:6} {summary['spec']}: {summary['windows']} windows x "
            f"{summary['features']} features (incl. prediction): cold median "
            f"{fmt_s(summary['cold_median_s'])} of {cold}, warm median "
            f"{fmt_s(summary['warm_median_s'])} (same connection "
            f"{fmt_s(summary['warm_same_connection_median_s'])}); target < {SCALE_TARGET_S} s: "
            f"{verdict}",
            flush=True,
        )
        prof = run_step(args, "profile", "--db", db, "--model", MODEL, "--window", window)
        out["profile"][window] = prof
        print(
            f"         split of one warm call: {prof['total_s']:.3f} s = SQL "
            f"{prof['sql_s']:.3f} s in {prof['statements']} statements + Python "
            f"{prof['python_s']:.3f} s",
            flush=True,
        )
        for s in prof["slowest"][:4]:
            print(f"           {s['s']:.3f} s  {s['sql'][:90]}", flush=True)
    return out


def part_pair(args: argparse.Namespace) -> dict[str, Any]:
    n = args.pair_rows
    print(
        f"\n[2] side by side with Evidently: {n:,}-row reference vs {n:,}-row current, "
        f"{len(PAIR_FEATURES)} features",
        flush=True,
    )
    build = run_step(args, "build-pair", quiet=False)
    print(
        f"  ModelBridge load: register reference {build['register_s']} s (calibration "
        f"{build.get('calibrate_s')} s), ingest current "
        f"{build['ingest_s']} s{' (reused store)' if build['reused'] else ''}",
        flush=True,
    )
    mb = run_step(args, "pair-time", "--db", build["store"], "--warm", str(args.warm))
    mb_cold, mb_warm = mb["runs"][0]["wall_s"], med([r["wall_s"] for r in mb["runs"][1:]])
    print(
        f"  ModelBridge drift_by_window: cold {fmt_s(mb_cold)}, warm median {fmt_s(mb_warm)} "
        f"({mb['windows']} window; imports {mb['imports_s']} s)",
        flush=True,
    )
    ev = run_evidently(args, build["data"])
    ev_cold = ev["runs"][0]["wall_s"]
    ev_warm = med([r["wall_s"] for r in ev["runs"][1:]])
    print(
        f"  Evidently {ev['version']} DataDriftPreset Report.run: cold {fmt_s(ev_cold)}, "
        f"warm {fmt_s(ev_warm)} (import {ev['evidently_import']['wall_s']:.1f} s, read Parquet "
        f"{ev['load']['wall_s']:.1f} s)",
        flush=True,
    )
    ratio_cold = ev_cold / mb_cold
    ratio_warm = (ev_warm / mb_warm) if (ev_warm and mb_warm) else None
    print(
        f"  ratio (Evidently / ModelBridge): cold {ratio_cold:.1f}x"
        + (f", warm {ratio_warm:.1f}x" if ratio_warm else "")
        + f"; target >= {RATIO_TARGET:.0f}x: "
        + ("met" if ratio_cold >= RATIO_TARGET else "MISSED"),
        flush=True,
    )
    table = compare(mb, ev)
    shared = [r for r in table if r["shared_method"]]
    agree = sum(bool(r["agree"]) for r in shared)
    agree_value = sum(bool(r["agree_on_value"]) for r in shared)
    print(
        f"  verdicts: {agree} of {len(shared)} features with a shared method agree "
        f"({agree_value} on value vs threshold alone)",
        flush=True,
    )
    print(
        f"    {'feature':20} {'Evidently':38} {'ModelBridge, same method':26} ModelBridge primary",
        flush=True,
    )
    for r in table:
        mark = "" if r["agree"] is None else ("same" if r["agree"] else "DIFFERENT")
        ev_v = f"{r['evidently_method'][:24]:24} {r['evidently_value']:.4f} "
        ev_v += _verdict(r["evidently_drifted"])
        mb_v = "-"
        if r["modelbridge_value"] is not None:
            mb_v = f"{r['modelbridge_value']:.4f} {_verdict(r['modelbridge_alert'])} {mark}"
        prim = f"{r['modelbridge_primary']} {r['modelbridge_primary_value']:.4f} "
        prim += _verdict(r["modelbridge_primary_alert"])
        print(f"    {r['feature']:20} {ev_v:38} {mb_v:26} {prim}", flush=True)
    return {
        "build": build,
        "modelbridge": mb,
        "evidently": ev,
        "ratio_cold": round(ratio_cold, 2),
        "ratio_warm": round(ratio_warm, 2) if ratio_warm else None,
        "verdicts": table,
        "agree": agree,
        "agree_on_value": agree_value,
        "shared": len(shared),
    }


if __name__ == "__main__":
    main()
