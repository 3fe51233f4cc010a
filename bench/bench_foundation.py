"""Foundation benchmark: ingest throughput, Overview/Traffic page run time and peak memory.

    uv run python bench/bench_foundation.py --rows 10000000 --files 10          # full run
    uv run python bench/bench_foundation.py --rows 10000000 --files 10 --keep   # reuse the store
    uv run python bench/bench_foundation.py --rows 200000 --files 2             # smoke test
    ... --autogroup-nice -15    # shared machine: give the bench's processes the CPUs (root)

Steps, each measured in its own subprocess so peak memory (VmHWM / ru_maxrss) is per step:

1. gen       - Parquet prediction logs (14 numeric + 6 categorical features, binary score,
               latency_ms, request_id, timestamp over ~120 days, one chronological slice per
               file) and a ~50k-row reference file, written with numpy/pyarrow to bench/work/.
               Files are deterministic and reused while their manifest matches.
2. ingest    - a fresh store: core.registry.register_version(reference, binary), then
               core.ingest.ingest_predictions once per file (the public ingest path), timed per
               file; --sql-profile also times every SQL statement, connect and commit.
               --ingest-via cli runs `python -m core ingest MODEL FILES...` instead (one process,
               overall time only).
3. queries   - the core functions behind the pages (core.monitoring.traffic span / daily_traffic /
               score_distribution / totals, core.monitoring.data_quality and core.value.overview
               where present) alone:
               each on a fresh connection (what the app does) and on one reused connection,
               plus the connection open itself and EXPLAIN ANALYZE plans in bench/work/.
4. page      - per page (--pages, default overview,traffic), in its own process: streamlit
               AppTest of app/main.py signed in as a manager; cold runs (st.cache_data and
               st.cache_resource cleared, new session) and warm reruns, then one instrumented
               cold run that splits the time into store opens, SQL, ORM and the rest, and a
               cProfile of the script thread (bench/work/<page>-profile-<rows>.txt).

Each timed step reports this process's CPU seconds and other processes' CPU seconds over the
same span: on a shared machine a wall time is only meaningful when the latter is small.

Results: a table on stdout and JSON in bench/work/results-<rows>.json (or --json PATH).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
MAIN = ROOT / "app" / "main.py"
MODEL = "bench"
N_NUMERIC = 14
CAT_SIZES = (3, 5, 8, 12, 30, 100)  # six categorical features and their cardinalities
DAYS = 120
OVERVIEW_TARGET_S = 1.5
MEMORY_TARGET_MB = 1536.0

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------------------------
# helpers


def peak_memory_mb() -> dict[str, float]:
    """RSS high-water mark of this process (VmHWM and ru_maxrss), and the current RSS, in MB."""
    out = {"ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(("VmHWM:", "VmRSS:")):
                key = "vmhwm_mb" if line.startswith("VmHWM") else "vmrss_mb"
                out[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def _busy_jiffies() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields) - idle) / hz, sum(fields) / hz


def own_cpu_s() -> float:
    """CPU seconds used by this process so far (all threads, DuckDB's included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class CpuWatch:
    """CPU seconds used by this process and by everything else on the machine over a span."""

    def __init__(self) -> None:
        self.busy0, _ = _busy_jiffies()
        self.own0 = own_cpu_s()

    def read(self) -> dict[str, float]:
        busy, _ = _busy_jiffies()
        own = own_cpu_s() - self.own0
        return {
            "own_cpu_s": round(own, 3),
            "other_cpu_s": round(max(busy - self.busy0 - own, 0), 3),
        }


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
        time.sleep(4)
        busy = machine_busy()
    return {
        "busy_share": busy,
        "waited_s": round(time.monotonic() - t0, 1),
        "quiet": busy <= threshold,
        "loadavg": os.getloadavg(),
    }


def git_state() -> dict[str, Any]:
    """The commit measured and whether the measured files differed from it."""

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
            "status", "--short", "--", "core", "app", "pages"
        ).splitlines(),
    }


def machine() -> dict[str, Any]:
    """What this ran on."""
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu = ""
    with suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    import duckdb
    import pandas
    import pyarrow

    versions = {
        "duckdb": duckdb.__version__,
        "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__,
    }
    try:
        import streamlit

        versions["streamlit"] = streamlit.__version__
    except ImportError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "mem_total_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "versions": versions,
    }


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def run_step(step: str, args: argparse.Namespace, extra: list[str] | None = None) -> dict:
    """Run one step in a fresh interpreter and return the JSON it wrote."""
    out = WORK / f"foundation-step-{step}-{os.getpid()}.json"
    out.unlink(missing_ok=True)
    quiet = None
    if step != "gen" and args.quiet_wait > 0:
        quiet = wait_until_quiet(args.quiet_wait)
        if not quiet["quiet"]:
            print(
                f"  note: machine busy ({quiet['busy_share']:.0%} of all cores used by other "
                f"processes after waiting {quiet['waited_s']:.0f} s); timings will be slower",
                flush=True,
            )
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--step",
        step,
        "--step-out",
        str(out),
        *_forward(args),
        *(extra or []),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not out.exists():
        raise SystemExit(f"step {step} failed (exit {proc.returncode}); command: {' '.join(cmd)}")
    data = json.loads(out.read_text())
    out.unlink(missing_ok=True)
    data["process_wall_s"] = round(wall, 2)
    data["machine_before_step"] = quiet
    return data


def _forward(args: argparse.Namespace) -> list[str]:
    out = [
        "--rows",
        str(args.rows),
        "--files",
        str(args.files),
        "--ref-rows",
        str(args.ref_rows),
        "--seed",
        str(args.seed),
        "--dirty",
        str(args.dirty),
        "--db",
        str(args.db),
        "--cold-runs",
        str(args.cold_runs),
        "--warm-runs",
        str(args.warm_runs),
        "--query-repeats",
        str(args.query_repeats),
        "--ingest-via",
        args.ingest_via,
    ]
    if args.sql_profile:
        out.append("--sql-profile")
    if args.duckdb_memory_limit:
        out += ["--duckdb-memory-limit", args.duckdb_memory_limit]
    if args.what_if:
        out += ["--what-if", args.what_if]
    return out


def write_step(args: argparse.Namespace, data: dict) -> None:
    data["memory"] = peak_memory_mb()
    Path(args.step_out).write_text(json.dumps(data, indent=2, default=str))


# --------------------------------------------------------------------------------------------
# 1. data generation


def data_files(args: argparse.Namespace) -> tuple[Path, list[Path]]:
    folder = WORK / f"data-{args.rows}x{args.files}-s{args.seed}-d{args.dirty}"
    return folder / "reference.parquet", [
        folder / f"logs-{i:02d}.parquet" for i in range(args.files)
    ]


def step_gen(args: argparse.Namespace) -> None:
    """Write the reference and log files (skipped when an identical set exists)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ref_path, log_paths = data_files(args)
    folder = ref_path.parent
    manifest = {
        "rows": args.rows,
        "files": args.files,
        "ref_rows": args.ref_rows,
        "seed": args.seed,
        "dirty": args.dirty,
        "numeric": N_NUMERIC,
        "categorical": list(CAT_SIZES),
        "days": DAYS,
        "format": 2,
    }
    mf = folder / "manifest.json"
    if (
        mf.exists()
        and json.loads(mf.read_text()).get("spec") == manifest
        and all(p.exists() for p in [ref_path, *log_paths])
    ):
        write_step(args, {"reused": True, "folder": str(folder), **json.loads(mf.read_text())})
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(args.seed)
    # Fixed per-feature distributions so the reference and the logs agree.
    num_loc = rng.uniform(-50, 500, N_NUMERIC)
    num_scale = rng.uniform(1, 100, N_NUMERIC)
    cat_values = [[f"c{j}_v{k:03d}" for k in range(size)] for j, size in enumerate(CAT_SIZES)]
    cat_probs = [rng.dirichlet(np.ones(size) * 2) for size in CAT_SIZES]
    missing_prone = {N_NUMERIC - 2, N_NUMERIC - 1}  # 2 % missing in two numeric features

    def features(n: int, r: np.random.Generator) -> dict[str, pa.Array]:
        cols: dict[str, pa.Array] = {}
        for j in range(N_NUMERIC):
            values = r.normal(num_loc[j], num_scale[j], n).round(3)
            mask = r.random(n) < 0.02 if j in missing_prone else None
            cols[f"num_{j + 1:02d}"] = pa.array(values, mask=mask)
        for j, size in enumerate(CAT_SIZES):
            idx = r.choice(size, n, p=cat_probs[j]).astype(np.int32)
            cols[f"cat_{j + 1}"] = pa.DictionaryArray.from_arrays(
                pa.array(idx), pa.array(cat_values[j])
            ).cast(pa.string())
        return cols

    t0 = time.perf_counter()
    r = np.random.default_rng(args.seed + 1)
    ref_score = r.beta(2, 5, args.ref_rows)
    ref = {
        **features(args.ref_rows, r),
        "target": pa.array((r.random(args.ref_rows) < ref_score).astype(np.int8)),
        "score": pa.array(ref_score.round(6)),
    }
    pq.write_table(pa.table(ref), ref_path)

    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    span_us = int((end - start).total_seconds() * 1e6)
    start_us = int(start.timestamp() * 1e6)
    per_file = [
        args.rows // args.files + (1 if i < args.rows % args.files else 0)
        for i in range(args.files)
    ]
    first_id = 0
    for i, (path, n) in enumerate(zip(log_paths, per_file, strict=True)):
        r = np.random.default_rng([args.seed, i])
        # File i holds the i-th chronological slice, as a daily/weekly export would.
        lo, hi = start_us + span_us * i // args.files, start_us + span_us * (i + 1) // args.files
        ts = np.sort(r.integers(lo, hi, n))
        ids = pc.binary_join_element_wise(
            "req-",
            pc.utf8_lpad(
                pc.cast(pa.array(np.arange(first_id, first_id + n)), pa.string()), 10, "0"
            ),
            "",
        )
        score = r.beta(2, 5, n).round(6)
        latency = r.lognormal(3.4, 0.45, n)
        spikes = r.random(n) < 0.01
        latency[spikes] *= r.uniform(5, 40, int(spikes.sum()))
        score_mask = None
        if args.dirty > 0:
            score_mask = r.random(n) < args.dirty  # missing prediction -> quarantined
        table = pa.table(
            {
                "request_id": ids,
                "timestamp": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
                **features(n, r),
                "score": pa.array(score, mask=score_mask),
                "latency_ms": pa.array(latency.round(2)),
            }
        )
        pq.write_table(table, path, row_group_size=128 * 1024)
        first_id += n
    elapsed = time.perf_counter() - t0
    mf.write_text(json.dumps({"spec": manifest, "generated_s": round(elapsed, 1)}, indent=2))
    write_step(
        args,
        {
            "reused": False,
            "folder": str(folder),
            "spec": manifest,
            "generated_s": round(elapsed, 1),
        },
    )


# --------------------------------------------------------------------------------------------
# instrumentation shared by the ingest, queries and overview steps


class Timings:
    """Accumulated seconds and counts per label."""

    def __init__(self) -> None:
        self.items: dict[str, list[float]] = {}

    def add(self, label: str, seconds: float) -> None:
        self.items.setdefault(label, []).append(seconds)

    def reset(self) -> None:
        self.items = {}

    def summary(self) -> dict[str, dict[str, float]]:
        rows = {
            k: {"n": len(v), "total_s": round(sum(v), 4), "max_s": round(max(v), 4)}
            for k, v in self.items.items()
        }
        return dict(sorted(rows.items(), key=lambda kv: -kv[1]["total_s"]))


def _label(sql: str) -> str:
    words = " ".join(sql.split())
    return words[:90]


def instrument(timings: Timings) -> None:
    """Time every store open/close, raw SQL statement and ORM statement (monkeypatching)."""
    import sqlalchemy as sa

    from core import store as store_mod

    orig_work = store_mod.Store.work.__wrapped__

    @contextmanager
    def work(self, *, write: bool = False):
        cm = contextmanager(orig_work)(self, write=write)
        t0 = time.perf_counter()
        unit = cm.__enter__()
        timings.add("store: open connection", time.perf_counter() - t0)
        try:
            yield unit
        except BaseException:
            if not cm.__exit__(*sys.exc_info()):
                raise
        else:
            t1 = time.perf_counter()
            cm.__exit__(None, None, None)
            label = "store: commit + close" if write else "store: rollback + close"
            timings.add(label, time.perf_counter() - t1)

    store_mod.Store.work = work

    # File reading and hashing inside core.ingest / core.registry (names imported there).
    import importlib

    for mod_name in ("core.ingest", "core.registry"):
        mod = importlib.import_module(mod_name)
        for fn_name in ("load_file", "sha256_of"):
            orig_fn = getattr(mod, fn_name, None)
            if orig_fn is None or getattr(orig_fn, "_bench_wrapped", False):
                continue

            def timed(*a, _orig=orig_fn, _label=f"{mod_name}.{fn_name}", **kw):
                t0 = time.perf_counter()
                try:
                    return _orig(*a, **kw)
                finally:
                    timings.add(f"file: {_label}", time.perf_counter() - t0)

            timed._bench_wrapped = True  # type: ignore[attr-defined]
            setattr(mod, fn_name, timed)

    for name in ("sql", "rows", "frame"):
        orig = getattr(store_mod.Work, name)

        def wrapped(self, query, params=None, _orig=orig, _name=name):
            t0 = time.perf_counter()
            try:
                return _orig(self, query, params)
            finally:
                timings.add(f"sql/{_name}: {_label(query)}", time.perf_counter() - t0)

        setattr(store_mod.Work, name, wrapped)

    starts: dict[int, float] = {}

    @sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        starts[id(cursor)] = time.perf_counter()

    @sa.event.listens_for(sa.engine.Engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        t0 = starts.pop(id(cursor), None)
        if t0 is not None:
            timings.add(f"orm: {_label(statement)[:60]}", time.perf_counter() - t0)


def apply_memory_limit(args: argparse.Namespace) -> None:
    """Experiment: SET memory_limit on every store connection (the store does not, yet)."""
    if not args.duckdb_memory_limit:
        return
    import sqlalchemy as sa
    from sqlalchemy.pool import Pool

    limit = args.duckdb_memory_limit.replace("'", "")

    def _limit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"SET memory_limit = '{limit}'")

    sa.event.listen(Pool, "connect", _limit)


# --------------------------------------------------------------------------------------------
# 2. ingest


def step_ingest(args: argparse.Namespace) -> None:
    """Fresh store; register the reference; ingest every log file through core.ingest."""
    ref_path, log_paths = data_files(args)
    db = Path(args.db)
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    shutil.rmtree(db.with_name(f"{db.stem}.artifacts"), ignore_errors=True)
    db.parent.mkdir(parents=True, exist_ok=True)
    t_import = time.perf_counter()
    from core.registry import RegistrationSpec, register_version
    from core.store import Store

    imports_s = time.perf_counter() - t_import
    apply_memory_limit(args)
    timings = Timings()
    if args.sql_profile:
        instrument(timings)
    store = Store(db, lock_wait_seconds=60)
    store.init()
    t0 = time.perf_counter()
    reg = register_version(
        store,
        spec=RegistrationSpec(
            model=MODEL,
            reference=ref_path,
            target="target",
            prediction="score",
            task="binary",
            positive_label="1",
            created_by="bench",
        ),
    )
    register_s = time.perf_counter() - t0
    mem_after_register = peak_memory_mb()
    results: list[dict] = []
    if args.ingest_via == "cli":
        cmd = [
            sys.executable,
            "-m",
            "core",
            "ingest",
            MODEL,
            *map(str, log_paths),
            "--db",
            str(db),
            "--json",
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"CLI ingest failed ({proc.returncode}): {proc.stderr[-2000:]}")
        parsed = json.loads(proc.stdout)
        records = parsed if isinstance(parsed, list) else [parsed]
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        results = [
            {
                "file": Path(r["source"]).name,
                "rows_read": r["rows_read"],
                "rows_ingested": r["rows_ingested"],
                "rows_quarantined": r["rows_quarantined"],
                "error": r.get("error"),
            }
            for r in records
        ]
        overall = {"seconds": round(elapsed, 2), "cli_peak_rss_mb": round(child, 1)}
    else:
        from core.ingest import ingest_predictions

        total_t = 0.0
        for path in log_paths:
            timings_before = {k: len(v) for k, v in timings.items.items()}
            watch = CpuWatch()
            t0 = time.perf_counter()
            (res,) = ingest_predictions(store, model=MODEL, files=[path])
            dt = time.perf_counter() - t0
            cpu = watch.read()
            total_t += dt
            mem = peak_memory_mb()
            row = {
                "file": path.name,
                "seconds": round(dt, 2),
                "rows_read": res.rows_read,
                "rows_ingested": res.rows_ingested,
                "rows_quarantined": res.rows_quarantined,
                "rows_per_s": round(res.rows_read / dt) if dt else None,
                "vmhwm_mb": round(mem.get("vmhwm_mb", mem["ru_maxrss_mb"]), 1),
                "vmrss_mb": round(mem.get("vmrss_mb", 0), 1),
                **cpu,
                "error": res.error,
                "reasons": res.reasons,
                "flags": res.flags,
            }
            if args.sql_profile:
                # statements of this file only: the last n entries of each label
                row["sql"] = {
                    k: round(sum(v[timings_before.get(k, 0) :]), 3)
                    for k, v in timings.items.items()
                    if len(v) > timings_before.get(k, 0)
                }
                row["sql"] = dict(sorted(row["sql"].items(), key=lambda kv: -kv[1])[:12])
            results.append(row)
            print(
                f"  ingest {path.name}: {res.rows_read:,} rows in {dt:.1f} s "
                f"({res.rows_read / dt:,.0f} rows/s), peak RSS {row['vmhwm_mb']:.0f} MB, "
                f"CPU {cpu['own_cpu_s']:.1f} s (other processes {cpu['other_cpu_s']:.1f} s)",
                flush=True,
            )
            if res.error:
                raise SystemExit(f"ingest of {path} failed: {res.error}")
        overall = {"seconds": round(total_t, 2)}
    rows_read = sum(r["rows_read"] for r in results)
    overall.update(
        {
            "rows_read": rows_read,
            "rows_ingested": sum(r["rows_ingested"] for r in results),
            "rows_quarantined": sum(r["rows_quarantined"] for r in results),
            "rows_per_s": round(rows_read / overall["seconds"]),
        }
    )
    write_step(
        args,
        {
            "via": args.ingest_via,
            "imports_s": round(imports_s, 2),
            "register": {
                "seconds": round(register_s, 2),
                "rows": reg.reference_rows,
                "features": len(reg.features),
                "memory_after": mem_after_register,
            },
            "files": results,
            "overall": overall,
            "store_size_mb": round(db.stat().st_size / 2**20, 1),
            "sql_profile": timings.summary() if args.sql_profile else None,
        },
    )


# --------------------------------------------------------------------------------------------
# 3. the aggregate queries alone


def step_queries(args: argparse.Namespace) -> None:
    """The core functions behind the pages, timed alone on fresh and on reused connections."""
    from core import registry
    from core.monitoring import traffic
    from core.store import Store, log_tables

    apply_memory_limit(args)
    store = Store(args.db)
    reps = args.query_repeats
    opens = []
    for _ in range(reps):
        t0 = time.perf_counter()
        with store.read():
            pass
        opens.append(time.perf_counter() - t0)
    with store.read() as r:
        model = registry.get_model(r, name=MODEL)
        first, last, n = traffic.span(r, model=model)
    flt = traffic.TrafficFilter(model.id, None, first, last)
    calls = {
        "span": lambda r: traffic.span(r, model=model),
        "daily_traffic": lambda r: traffic.daily_traffic(r, flt=flt),
        "score_distribution": lambda r: traffic.score_distribution(r, flt=flt, lo=0.0, hi=1.0),
        "totals": lambda r: traffic.totals(r, flt=flt),
    }
    # What else the Overview and Traffic pages call (other modules; skipped if their API moved).
    errors: dict[str, str] = {}
    try:
        from core.monitoring import data_quality

        calls["quality.volume(D)"] = lambda r: data_quality.volume(r, model=model, period="D")
        calls["quality.latency(D)"] = lambda r: data_quality.latency(r, model=model, period="D")
        calls["quality.headline(D)"] = lambda r: data_quality.headline(r, model=model, period="D")
    except ImportError as exc:
        errors["quality"] = str(exc)
    try:
        from core.value import overview

        def _live(r):
            return registry.get_version(r, model=registry.get_model(r, name=MODEL))

        calls["health.earnings"] = lambda r: overview.earnings(r, model=model, version=_live(r))
        calls["health.lights"] = lambda r: overview.lights(r, model=model, version=_live(r))
        calls["health.attention"] = lambda r: overview.attention(r, model=model)
    except ImportError as exc:
        errors["health"] = str(exc)
    for name in list(calls):
        try:
            with store.read() as r:
                calls[name](r)
        except Exception as exc:  # another module's API changed: report, do not fail the bench
            errors[name] = f"{type(exc).__name__}: {exc}"
            del calls[name]
    fresh: dict[str, list[float]] = {k: [] for k in calls}
    reused: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(reps):
        for name, fn in calls.items():
            with store.read() as r:  # the app's pattern: a new connection per unit of work
                t0 = time.perf_counter()
                fn(r)
                fresh[name].append(time.perf_counter() - t0)
    with store.read() as r:
        for _ in range(reps + 1):
            for name, fn in calls.items():
                t0 = time.perf_counter()
                fn(r)
                reused[name].append(time.perf_counter() - t0)
        for v in reused.values():
            v.pop(0)  # first pass warms the buffer pool
        # one pass over the whole Overview data in one connection, as traffic_view does
        t0 = time.perf_counter()
        for name in ("daily_traffic", "score_distribution", "totals"):
            calls[name](r)
        view_s = time.perf_counter() - t0
        plans = {}
        where, params = flt.days().logs_where()
        table = log_tables.pred_table(model.id)
        plan_sql = {
            "span": (f"SELECT min(ts)::DATE, max(ts)::DATE, count(*) FROM {table}", []),
            "daily_traffic": (
                "SELECT ts::DATE AS day, count(*) AS predictions, avg(score) AS mean_score, "
                "quantile_cont(latency_ms, [0.5, 0.95, 0.99]) AS q "
                f"FROM {table} WHERE {where} GROUP BY day ORDER BY day",
                params,
            ),
            "totals": (
                "SELECT count(*), avg(score), quantile_cont(latency_ms, 0.95), "
                "avg(CASE WHEN latency_ms > 1000 THEN 1 ELSE 0 END) "
                f"FROM {table} WHERE {where}",
                params,
            ),
        }
        r.db.execute("PRAGMA enable_profiling = 'no_output'")
        for name, (sql, p) in plan_sql.items():
            text = r.db.execute("EXPLAIN ANALYZE " + sql, p).fetchall()
            plans[name] = text[0][1] if text and len(text[0]) > 1 else str(text)
            (WORK / f"plan-{args.rows}-{name}.txt").write_text(plans[name])
        settings = dict(
            r.db.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('threads', 'memory_limit', 'checkpoint_threshold')"
            ).fetchall()
        )
        row_groups = r.db.execute(
            f"SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('{table}')"
        ).fetchall()[0][0]
    write_step(
        args,
        {
            "rows_in_store": n,
            "first_day": str(first),
            "last_day": str(last),
            "open_close_s": {"median": median(opens), "all": opens},
            "fresh_connection_s": {k: median(v) for k, v in fresh.items()},
            "errors": errors,
            "reused_connection_s": {k: median(v) for k, v in reused.items()},
            "three_view_queries_one_connection_s": view_s,
            "duckdb_settings": settings,
            "row_groups": row_groups,
        },
    )


def apply_what_if(args: argparse.Namespace) -> dict[str, int]:
    """Experiments on code the bench does not own, patched in this process only.

    headline-last-period: the Overview's data-quality headline
    (core.monitoring.data_quality.headline) reads only the latest period from volume() and
    latency(); both scan every day of the log table.
    Rewrite their SQL so the log table is read from the start of the latest period only.
    Returns how often each rewrite applied (0 means the code changed and the patch is stale).
    """
    applied: dict[str, int] = {}
    if args.what_if != "headline-last-period":
        return applied
    from core.monitoring import data_quality
    from core.store import log_tables
    from core.words import PERIODS

    def restricted(fn_name: str):
        orig = getattr(data_quality, fn_name)

        def wrapper(w, model, period="D", *a, **kw):
            table = log_tables.pred_table(model.id)
            unit = PERIODS[period]
            real_frame = w.frame

            def frame(query, params=None):
                needle = f"FROM {table} GROUP BY"
                if needle in query:
                    applied[fn_name] = applied.get(fn_name, 0) + 1
                    query = query.replace(
                        needle,
                        f"FROM {table} WHERE ts >= (SELECT date_trunc('{unit}', max(ts)) "
                        f"FROM {table}) GROUP BY",
                    )
                return real_frame(query, params)

            w.frame = frame
            try:
                return orig(w, model, period, *a, **kw)
            finally:
                del w.frame

        setattr(data_quality, fn_name, wrapper)

    restricted("volume")
    restricted("latency")
    return applied


# --------------------------------------------------------------------------------------------
# 4. the Overview page with AppTest


# page key -> (title, path for AppTest.switch_page relative to app/main.py; None = default page)
PAGES = {
    "overview": ("Overview", None),
    "traffic": ("Traffic", "../pages/traffic.py"),
}


def step_page(args: argparse.Namespace) -> None:
    """Cold and warm AppTest runs of one page, then one instrumented cold run."""
    os.environ["MODELBRIDGE_DB"] = str(args.db)
    title, path = PAGES[args.page]
    mem_start = peak_memory_mb()
    t0 = time.perf_counter()
    import streamlit as st
    from streamlit import logger as st_logger
    from streamlit.testing.v1 import AppTest

    from core.auth import Identity

    imports_s = time.perf_counter() - t0
    mem_imports = peak_memory_mb()
    st_logger.set_log_level("error")
    apply_memory_limit(args)
    what_if_applied = apply_what_if(args)

    def clear_caches() -> None:
        # outside a script run Streamlit warns "missing ScriptRunContext"; nothing is wrong
        logging.disable(logging.WARNING)
        try:
            st.cache_data.clear()
            st.cache_resource.clear()
        finally:
            logging.disable(logging.NOTSET)

    def new_session() -> AppTest:
        """A signed-in manager's new session, on the page (caches cleared, nothing timed yet)."""
        clear_caches()
        logging.disable(logging.WARNING)  # same warning from session_state outside a run
        try:
            at = AppTest.from_file(str(MAIN), default_timeout=300)
            at.session_state["identity"] = Identity("bench", "manager")
        finally:
            logging.disable(logging.NOTSET)
        if path is not None:
            # AppTest can switch only after a first run (that run draws the default page and
            # fills caches: clear them again so the timed run of this page is cold).
            at.run()
            clear_caches()
            at.switch_page(path)
        return at

    def check(at: AppTest) -> dict:
        if at.exception:
            raise SystemExit(f"{title} raised: {[e.value for e in at.exception]}")
        titles = [t.value for t in at.title]
        if title not in titles:
            raise SystemExit(f"not the {title} page: titles={titles}")
        return {
            "metrics": {m.label: m.value for m in at.metric},
            "elements": {
                kind: len(getattr(at, kind))
                for kind in ("metric", "markdown", "info", "warning", "error", "success")
            },
        }

    cold, cold_cpu, shown = [], [], {}
    for _ in range(args.cold_runs + 1):  # the first one also pays module imports
        at = new_session()
        watch = CpuWatch()
        t0 = time.perf_counter()
        at.run()
        cold.append(time.perf_counter() - t0)
        cold_cpu.append(watch.read())
        shown = check(at)
    warm = []
    for _ in range(args.warm_runs):
        t0 = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - t0)
        check(at)
    mem_runs = peak_memory_mb()

    # Instrumented cold run: where does the time go?
    import cProfile
    import pstats

    from streamlit.testing.v1.local_script_runner import LocalScriptRunner

    at = new_session()
    timings = Timings()
    instrument(timings)
    profiler = cProfile.Profile()
    orig_thread = LocalScriptRunner._run_script_thread

    def profiled_thread(self):
        profiler.enable()
        try:
            return orig_thread(self)
        finally:
            profiler.disable()

    LocalScriptRunner._run_script_thread = profiled_thread
    t0 = time.perf_counter()
    at.run()
    instrumented_s = time.perf_counter() - t0
    check(at)
    LocalScriptRunner._run_script_thread = orig_thread
    prof_path = WORK / f"{args.page}-profile-{args.rows}.txt"
    with prof_path.open("w") as fh:
        stats = pstats.Stats(profiler, stream=fh).sort_stats("cumulative")
        stats.print_stats(80)
    breakdown = timings.summary()
    in_store = sum(
        v["total_s"] for k, v in breakdown.items() if k.startswith(("store:", "sql/", "orm:"))
    )
    # Cumulative time of the page's building blocks: cached views (app/data.py), core
    # functions they call, chart builders and Streamlit's chart serialisation.
    buckets: dict[str, float] = {}
    for (filename, _, func), stat in stats.stats.items():  # type: ignore[attr-defined]
        rel = filename.replace(str(ROOT) + os.sep, "")
        if rel.startswith(("app/data.py", "app/charts.py", "core/")) and not func.startswith("<"):
            label = f"{rel.removesuffix('.py').replace('/', '.')}.{func}"
        elif rel.endswith("plotly_chart.py") and func == "plotly_chart":
            label = "streamlit st.plotly_chart"
        else:
            continue
        buckets[label] = round(buckets.get(label, 0.0) + stat[3], 4)
    top = dict(sorted(buckets.items(), key=lambda kv: -kv[1])[:20])
    write_step(
        args,
        {
            "page": args.page,
            "imports_s": round(imports_s, 2),
            "first_cold_run_s": cold[0],
            "cold_runs_s": cold[1:],
            "cold_median_s": median(cold[1:]),
            "first_cold_run_cpu": cold_cpu[0],
            "cold_runs_cpu": cold_cpu[1:],
            "cold_median_own_cpu_s": median([c["own_cpu_s"] for c in cold_cpu[1:]]),
            "cold_median_other_cpu_s": median([c["other_cpu_s"] for c in cold_cpu[1:]]),
            "warm_runs_s": warm,
            "warm_median_s": median(warm),
            "shown": shown,
            "instrumented_cold_run_s": instrumented_s,
            "instrumented_in_store_s": round(in_store, 4),
            "breakdown": breakdown,
            "profile_top_s": top,
            "profile_file": str(prof_path),
            "what_if": args.what_if,
            "what_if_rewrites_applied": what_if_applied,
            "memory_at_start": mem_start,
            "memory_after_imports": mem_imports,
            "memory_after_timed_runs": mem_runs,
        },
    )


# --------------------------------------------------------------------------------------------
# orchestration


def store_rows(db: Path) -> int | None:
    """Predictions in an existing bench store, or None when it is absent or unusable."""
    if not db.exists():
        return None
    from core import registry
    from core.store import Store, log_tables

    try:
        with Store(db).read() as r:
            model = registry.get_model(r, name=MODEL)
            if model.task != "binary":
                return None
            return int(r.rows(f"SELECT count(*) FROM {log_tables.pred_table(model.id)}")[0][0])
    except Exception:
        return None


def fmt_s(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f} s"


def report(res: dict) -> str:
    lines = []
    m = res["machine"]
    lines.append(
        f"ModelBridge foundation benchmark, {m['date']}, nproc={m['nproc']}, "
        f"memory {m['mem_total_gb']} GB, {m['cpu']}"
    )
    lines.append(f"command: {res['command']}")
    g = res.get("git", {})
    dirty = g.get("uncommitted_in_measured_code") or []
    lines.append(
        f"code: commit {g.get('head', '?')}"
        + (f" + uncommitted changes in {len(dirty)} file(s) of core/app/pages" if dirty else "")
    )
    if res["args"].get("autogroup_nice") is not None:
        lines.append(
            f"priority: ran in its own scheduling group with nice "
            f"{res['args']['autogroup_nice']} (other sessions were using the CPUs)"
        )
    if res["args"].get("what_if"):
        lines.append(
            f"EXPERIMENT: --what-if {res['args']['what_if']} (patched in the page processes)"
        )
    if res["args"].get("duckdb_memory_limit"):
        lines.append(
            f"EXPERIMENT: every store connection ran SET memory_limit = "
            f"'{res['args']['duckdb_memory_limit']}'"
        )
    ing = res.get("ingest")
    if ing:
        o = ing["overall"]
        lines.append("")
        lines.append(
            f"Ingest ({ing['via']}): register reference {ing['register']['rows']:,} rows "
            f"in {ing['register']['seconds']:.1f} s"
        )
        if ing["via"] == "api":
            lines.append(
                f"  {'file':<20} {'rows':>10} {'seconds':>8} {'rows/s':>10} "
                f"{'peak RSS MB':>12} {'CPU s':>7} {'others CPU s':>13}"
            )
            for f in ing["files"]:
                lines.append(
                    f"  {f['file']:<20} {f['rows_read']:>10,} {f['seconds']:>8.1f} "
                    f"{f['rows_per_s']:>10,} {f['vmhwm_mb']:>12,.0f} "
                    f"{f.get('own_cpu_s', 0):>7.1f} {f.get('other_cpu_s', 0):>13.1f}"
                )
        lines.append(
            f"  overall: {o['rows_read']:,} rows ({o['rows_ingested']:,} ingested, "
            f"{o['rows_quarantined']:,} quarantined) in {o['seconds']:.1f} s = "
            f"{o['rows_per_s']:,} rows/s; store {ing['store_size_mb']:,.0f} MB"
        )
        peak = ing["memory"].get("vmhwm_mb", ing["memory"]["ru_maxrss_mb"])
        if "cli_peak_rss_mb" in o:
            peak = o["cli_peak_rss_mb"]
        lines.append(
            f"  peak RSS of the ingest process: {peak:,.0f} MB "
            f"(target < {MEMORY_TARGET_MB:,.0f} MB: "
            f"{'met' if peak < MEMORY_TARGET_MB else 'MISSED'})"
        )
    elif res.get("ingest_skipped"):
        lines.append("")
        lines.append(f"Ingest skipped (--keep): reused {res['db']} ({res['rows_in_store']:,} rows)")
    steps = {"ingest": res.get("ingest"), "queries": res.get("queries")}
    steps.update({f"page {k}": v for k, v in (res.get("pages") or {}).items()})
    for step, data in steps.items():
        mb = (data or {}).get("machine_before_step")
        if mb and not mb["quiet"]:
            lines.append(
                f"WARNING: before {step}, other processes kept {mb['busy_share']:.0%} of "
                f"the CPUs busy (waited {mb['waited_s']:.0f} s); its timings are inflated"
            )
    q = res.get("queries")
    if q:
        lines.append("")
        lines.append(
            f"Aggregates alone on {q['rows_in_store']:,} rows ({q['row_groups']} row "
            f"groups), medians of {res['args']['query_repeats']}:"
        )
        lines.append(f"  open+close a connection: {fmt_s(q['open_close_s']['median'])}")
        lines.append(f"  {'call':<22} {'fresh connection':>17} {'reused connection':>18}")
        for k in q["fresh_connection_s"]:
            lines.append(
                f"  {k:<22} {fmt_s(q['fresh_connection_s'][k]):>17} "
                f"{fmt_s(q['reused_connection_s'][k]):>18}"
            )
        for k, v in (q.get("errors") or {}).items():
            lines.append(f"  {k}: not timed ({v[:120]})")
    for key, ov in (res.get("pages") or {}).items():
        title = PAGES[key][0]
        lines.append("")
        lines.append(f"{title} page (AppTest, signed in as manager):")
        lines.append(
            f"  first cold run in a fresh process (incl. page imports): "
            f"{fmt_s(ov['first_cold_run_s'])}"
        )
        met = ov["cold_median_s"] < OVERVIEW_TARGET_S
        lines.append(
            f"  cold runs: median {fmt_s(ov['cold_median_s'])} of "
            f"{[round(x, 3) for x in ov['cold_runs_s']]}  (target < "
            f"{OVERVIEW_TARGET_S} s: {'met' if met else 'MISSED'})"
        )
        lines.append(
            f"  cold runs: median CPU of this process {ov['cold_median_own_cpu_s']:.3f} s, "
            f"of other processes meanwhile {ov['cold_median_other_cpu_s']:.3f} s"
        )
        lines.append(
            f"  warm runs: median {fmt_s(ov['warm_median_s'])} of "
            f"{[round(x, 3) for x in ov['warm_runs_s']]}"
        )
        peak = ov["memory"].get("vmhwm_mb", ov["memory"]["ru_maxrss_mb"])
        base = ov["memory_after_imports"].get("vmrss_mb", 0)
        lines.append(
            f"  peak RSS of the process: {peak:,.0f} MB (after imports "
            f"{base:,.0f} MB; target < {MEMORY_TARGET_MB:,.0f} MB: "
            f"{'met' if peak < MEMORY_TARGET_MB else 'MISSED'})"
        )
        if ov.get("what_if"):
            lines.append(
                f"  what-if {ov['what_if']}: rewrites applied {ov['what_if_rewrites_applied']}"
            )
        lines.append(
            f"  instrumented cold run {fmt_s(ov['instrumented_cold_run_s'])}, of which "
            f"store/SQL/ORM {fmt_s(ov['instrumented_in_store_s'])}:"
        )
        for k, v in list(ov["breakdown"].items())[:14]:
            lines.append(f"    {v['total_s']:>8.3f} s  x{v['n']:<3} {k}")
        if ov["profile_top_s"]:
            lines.append("  cProfile, cumulative (under the profiler, so slower):")
            for k, v in list(ov["profile_top_s"].items())[:12]:
                lines.append(f"    {v:>8.3f} s  {k}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="logged predictions")
    parser.add_argument("--files", type=int, default=10, help="Parquet files to split them into")
    parser.add_argument("--ref-rows", type=int, default=50_000, help="reference rows")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--dirty",
        type=float,
        default=0.0,
        help="share of rows with a missing prediction (quarantined)",
    )
    parser.add_argument("--db", help="store file (default bench/work/store-<rows>.duckdb)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="reuse an existing store with the right row count; skip ingest",
    )
    parser.add_argument("--ingest-via", choices=("api", "cli"), default="api")
    parser.add_argument(
        "--sql-profile",
        action="store_true",
        help="time every SQL statement of the ingest (small overhead)",
    )
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--warm-runs", type=int, default=5)
    parser.add_argument("--query-repeats", type=int, default=5)
    parser.add_argument("--skip", default="", help="comma-separated: queries")
    parser.add_argument(
        "--pages",
        default="overview,traffic",
        help=f"comma-separated pages to run with AppTest, of {', '.join(PAGES)} ('' for none)",
    )
    parser.add_argument("--page", choices=tuple(PAGES), help=argparse.SUPPRESS)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each timed step, wait up to this many seconds for other "
        "processes to leave the CPUs idle (0: do not wait)",
    )
    parser.add_argument(
        "--what-if",
        choices=("headline-last-period",),
        help="experiment: patch code outside bench/ in the Overview process (see apply_what_if)",
    )
    parser.add_argument(
        "--duckdb-memory-limit",
        help="experiment: SET memory_limit (e.g. 1GB) on every store connection",
    )
    parser.add_argument(
        "--autogroup-nice",
        type=int,
        help="on a shared machine: run the benchmark in its own scheduling group with this "
        "nice value (-20..19; negative needs root) so other sessions' jobs do not take its CPU",
    )
    parser.add_argument("--json", dest="json_out", help="results file")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--step-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.autogroup_nice is not None and not args.step:
        if os.environ.get("BENCH_AUTOGROUP") != "1":
            # Linux schedules by session ("autogroup"): a plain `nice` only ranks processes
            # within their own session, so run the bench in a new session and rank that.
            child = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]],
                start_new_session=True,
                env={**os.environ, "BENCH_AUTOGROUP": "1"},
            )
            return child.returncode
        Path("/proc/self/autogroup").write_text(str(args.autogroup_nice))
        print(f"autogroup nice set to {args.autogroup_nice} for this benchmark's processes")
    WORK.mkdir(parents=True, exist_ok=True)
    args.db = Path(args.db) if args.db else WORK / f"store-{args.rows}.duckdb"
    if args.step:
        {
            "gen": step_gen,
            "ingest": step_ingest,
            "queries": step_queries,
            "page": step_page,
        }[args.step](args)
        return 0

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    started = time.perf_counter()
    res: dict[str, Any] = {
        "machine": machine(),
        "command": "uv run python bench/bench_foundation.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "args": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in vars(args).items()
            if not k.startswith("step")
        },
        "db": str(args.db),
        "git": git_state(),
        "targets": {"page_cold_median_s": OVERVIEW_TARGET_S, "peak_rss_mb": MEMORY_TARGET_MB},
    }
    existing = store_rows(args.db) if args.keep else None
    if existing is not None and (existing == args.rows or (args.dirty > 0 and existing > 0)):
        res["ingest_skipped"] = True
        res["rows_in_store"] = existing
        print(f"--keep: reusing {args.db} with {existing:,} predictions", flush=True)
    else:
        if args.keep:
            print(
                f"--keep: no usable store with {args.rows:,} rows at {args.db}; building it",
                flush=True,
            )
        print(f"generating {args.rows:,} rows in {args.files} Parquet files ...", flush=True)
        res["gen"] = run_step("gen", args)
        print(
            f"  {'reused' if res['gen']['reused'] else 'generated'} "
            f"({res['gen'].get('generated_s', '?')} s) in {res['gen']['folder']}",
            flush=True,
        )
        print(f"ingesting through core.ingest ({args.ingest_via}) into {args.db} ...", flush=True)
        res["ingest"] = run_step("ingest", args)
    if "queries" not in skip:
        print("timing the aggregate queries alone ...", flush=True)
        res["queries"] = run_step("queries", args)
    res["pages"] = {}
    for key in [p.strip() for p in args.pages.split(",") if p.strip()]:
        print(f"running the {PAGES[key][0]} page with AppTest ...", flush=True)
        res["pages"][key] = run_step("page", args, ["--page", key])
    res["total_wall_s"] = round(time.perf_counter() - started, 1)
    out = Path(args.json_out) if args.json_out else WORK / f"results-{args.rows}.json"
    out.write_text(json.dumps(res, indent=2, default=str))
    print()
    print(report(res))
    print(f"\nbenchmark wall time {res['total_wall_s']:.0f} s; JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
