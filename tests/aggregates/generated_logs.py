"""Generated prediction logs and labels for the aggregates: the store's layout, as Arrow
tables, as rows of a real store, and as Parquet partitioned by model, version and day.

The values are chosen to hit every edge case of the bins: NaN, NULL and both infinities,
values outside the bins' range, values exactly on bin edges, scores of exactly 0 and 1,
categories never seen in the reference, labels that never arrive or arrive for unknown requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.aggregates import ParquetLogs
from core.monitoring.histograms import FINE_BINS, NumericBins

MODEL_ID = 1
CATEGORIES = ("north", "south", "east", "west")
FIRST_DAY = date(2026, 3, 1)


@dataclass(frozen=True)
class Logs:
    """Predictions and labels of model MODEL_ID, with the bins the tests count them in."""

    predictions: pa.Table
    labels: pa.Table
    bins: dict[str, NumericBins]
    categorical: list[str]
    days: list[date]


def _with_gaps(values: np.ndarray, rng: np.random.Generator, nulls: float) -> pa.Array:
    """VALUES as an Arrow array where a share NULLS is NULL (NaN stays NaN, not NULL)."""
    return pa.array(values, mask=rng.random(len(values)) < nulls, from_pandas=False)


def generate(
    *, rows: int, days: int, numeric: int = 3, categorical: int = 2, seed: int = 7
) -> Logs:
    """ROWS predictions over DAYS days and versions 1-2, with NUMERIC + CATEGORICAL features."""
    rng = np.random.default_rng(seed)
    start = datetime.combine(FIRST_DAY, datetime.min.time())
    seconds = np.sort(rng.integers(0, days * 86_400, rows))
    ts = np.datetime64(start, "us") + seconds.astype("timedelta64[s]")
    version = np.where(rng.random(rows) < 0.3, 1, 2).astype(np.int32)
    request_id = np.char.add("r", np.arange(rows).astype(str))
    score = rng.beta(2, 5, rows)
    edge = rng.random(rows)
    score[edge < 0.02] = rng.integers(0, 201, (edge < 0.02).sum()) / 200  # exactly on bin edges
    score[edge > 0.995] = 1.0
    latency = rng.lognormal(4, 1, rows)
    latency[rng.random(rows) < 0.01] = 1_000.0  # exactly on an edge
    columns: dict[str, pa.Array] = {
        "request_id": pa.array(request_id),
        "version": pa.array(version),
        "ts": pa.array(ts, pa.timestamp("us")),
        "score": pa.array(score),
        "latency_ms": _with_gaps(latency, rng, 0.05),
        "batch_id": pa.array(np.full(rows, "b1")),
        "extra": pa.nulls(rows, pa.string()),
    }
    bins = {}
    for i in range(numeric):
        column = f"f{i + 1}"
        bins[column] = NumericBins(-2.0 + i, 2.0 + 0.5 * i)
        x = rng.normal(i, 1.3, rows)
        kind = rng.random(rows)
        x[kind < 0.01] = np.nan
        x[(kind >= 0.01) & (kind < 0.015)] = np.inf
        x[(kind >= 0.015) & (kind < 0.02)] = -np.inf
        on_edge = (kind >= 0.02) & (kind < 0.05)
        b = bins[column]
        x[on_edge] = b.lo + rng.integers(0, FINE_BINS + 1, on_edge.sum()) * b.width
        x[(kind >= 0.05) & (kind < 0.06)] = 50.0 + i  # far out of range
        columns[column] = _with_gaps(x, rng, 0.02)
    names = []
    for j in range(categorical):
        column = f"f{numeric + j + 1}"
        names.append(column)
        values = np.array([*CATEGORIES, "unseen-a", "unseen-b"])
        picked = values[rng.choice(len(values), rows, p=[0.3, 0.3, 0.2, 0.15, 0.03, 0.02])]
        gaps = rng.random(rows) < 0.03
        if j == categorical - 1:  # the last feature was added after version 1's first day
            gaps |= (version == 1) & (seconds < 86_400)
        columns[column] = pa.array(picked, mask=gaps)
    predictions = pa.table(columns)
    labelled = rng.random(rows) < 0.6  # the rest never arrive
    stray = np.char.add("x", np.arange(500).astype(str))  # labels for requests never logged
    label_ids = np.concatenate([request_id[labelled], stray])
    y = (rng.random(len(label_ids)) < np.concatenate([score[labelled], np.full(500, 0.5)])) * 1.0
    arrived = ts[labelled] + np.timedelta64(3, "D")
    labels = pa.table({
        "model_id": pa.array(np.full(len(label_ids), MODEL_ID, np.int32)),
        "request_id": pa.array(label_ids),
        "label": pa.array(np.where(y == 1, "yes", "no")),
        "y": pa.array(y),
        "arrived_at": pa.array(
            np.concatenate([arrived, np.full(500, arrived.max())]), pa.timestamp("us")
        ),
        "batch_id": pa.array(np.full(len(label_ids), "l1")),
    })  # fmt: skip
    return Logs(
        predictions, labels, bins, names, [FIRST_DAY + timedelta(days=d) for d in range(days)]
    )


def write_parquet(logs: Logs, root: Path, *, late_column: str | None = None) -> ParquetLogs:
    """LOGS as Parquet under ROOT: one folder per version and day, labels per arrival day.

    With LATE_COLUMN (generate's last feature), the files of version 1's first day lack that
    column, as files written before the feature was added do.
    """
    preds = logs.predictions
    day = pc.cast(preds["ts"], pa.date32()).to_numpy(zero_copy_only=False)
    version = preds["version"].to_numpy()
    for v in np.unique(version):
        for d in np.unique(day):
            part = preds.filter(pa.array((version == v) & (day == d)))
            if late_column and v == 1 and d == day.min():
                part = part.drop_columns([late_column])
            folder = root / "kind=prediction" / f"model={MODEL_ID}" / f"version={v}" / f"day={d}"
            folder.mkdir(parents=True, exist_ok=True)
            half = part.num_rows // 2  # two files per folder, as appends make
            pq.write_table(part.slice(0, half), folder / "part-0.parquet")
            pq.write_table(part.slice(half), folder / "part-1.parquet")
    labels = logs.labels
    arrived = pc.cast(labels["arrived_at"], pa.date32()).to_numpy(zero_copy_only=False)
    for d in np.unique(arrived):
        folder = root / "kind=label" / f"model={MODEL_ID}" / f"day={d}"
        folder.mkdir(parents=True, exist_ok=True)
        part = labels.filter(pa.array(arrived == d)).select(["request_id", "y"])
        pq.write_table(part, folder / "part-0.parquet")
    return ParquetLogs(root)
