"""Quarantined rows: list them, export them as CSV for fixing, and retry them after a fix.

A retry feeds the rows, as received, through the same validation as a fresh file. In one
transaction the old rows are marked as retried and a new batch ingests what now passes and
quarantines again what still fails, so nothing is lost or counted twice.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core import ingest
from core.errors import InvalidInput
from core.ingest import BatchResult
from core.registry import get_model
from core.store import Store, Work

KINDS = ("prediction", "label")
RETRY_PREFIX = "retry of "


@dataclass(frozen=True)
class QuarantineFilter:
    """Which open (not yet retried) quarantined rows to look at."""

    model_id: int
    kind: str | None = None
    batch_id: str | None = None
    reason: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        """SQL WHERE clause and parameters."""
        clauses = ["model_id = ?", "retried_in IS NULL"]
        params: list[Any] = [self.model_id]
        if self.kind:
            clauses.append("kind = ?")
            params.append(self.kind)
        if self.batch_id:
            clauses.append("batch_id = ?")
            params.append(self.batch_id)
        if self.reason:
            clauses.append("list_contains(reasons, ?)")
            params.append(self.reason)
        return " AND ".join(clauses), params


def _filter(w: Work, model: str, **options: Any) -> QuarantineFilter:
    entry = get_model(w, name=model)
    assert entry.id is not None
    return QuarantineFilter(entry.id, **options)


def summary(store: Store, *, model: str, **options: Any) -> pd.DataFrame:
    """Open quarantined rows per batch and file: counts and the commonest reasons."""
    with store.open().read() as r:
        where, params = _filter(r, model, **options).where()
        return r.frame(
            "SELECT batch_id, kind, source, count(*) AS rows, "
            "min(quarantined_at) AS quarantined_at, "
            "list_sort(list_distinct(flatten(list(reasons)))) AS reasons "
            f"FROM quarantine WHERE {where} GROUP BY ALL ORDER BY quarantined_at, batch_id",
            params,
        )


def rows(store: Store, *, model: str, limit: int = 100, **options: Any) -> pd.DataFrame:
    """Open quarantined rows as received, with where they came from and every reason."""
    with store.open().read() as r:
        where, params = _filter(r, model, **options).where()
        return r.frame(
            "SELECT batch_id, kind, source, line, reasons, raw, quarantined_at FROM quarantine "
            f"WHERE {where} ORDER BY quarantined_at, batch_id, line LIMIT ?",
            [*params, int(limit)],
        )


def export_csv(
    store: Store, *, model: str, target: Path, kind: str = "prediction", **options: Any
) -> int:
    """Write open quarantined rows of one kind to CSV: the fields as received plus where and
    why. One kind per file, so the fixed file can be sent back with `ingest` or `labels`."""
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    with store.open().read() as r:
        where, params = _filter(r, model, kind=kind, **options).where()
        found = r.frame(
            "SELECT raw, source AS quarantine_source, line AS quarantine_line, "
            "batch_id AS quarantine_batch, array_to_string(reasons, '; ') AS quarantine_reasons "
            f"FROM quarantine WHERE {where} ORDER BY quarantined_at, batch_id, line",
            params,
        )
    fields = pd.json_normalize(found.pop("raw").map(json.loads).tolist(), max_level=0)
    out = pd.concat([fields, found], axis=1)
    target.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(target, index=False)
    return len(out)


def retry(
    store: Store,
    *,
    model: str,
    version: int | None = None,
    kind: str = "prediction",
    batch_id: str | None = None,
) -> list[BatchResult]:
    """Re-validate open quarantined rows (one new batch per original batch)."""
    with store.open().read() as r:
        flt = _filter(r, model, kind=kind, batch_id=batch_id)
        where, params = flt.where()
        batches = r.rows(
            f"SELECT DISTINCT batch_id, source FROM quarantine WHERE {where} "
            "AND NOT list_contains(reasons, 'malformed_row') ORDER BY batch_id",
            params,
        )
    if kind == "prediction":
        job = ingest.prediction_job(store, model=model, version=version)
    else:
        job = ingest.label_job(store, model=model)
    return [_retry_batch(store, job, flt.model_id, old, source) for old, source in batches]


def _retry_batch(
    store: Store, job: ingest.Job, model_id: int, old: str, source: str
) -> BatchResult:
    where = (
        "model_id = ? AND batch_id = ? AND retried_in IS NULL "
        "AND NOT list_contains(reasons, 'malformed_row')"
    )
    with tempfile.TemporaryDirectory(prefix="modelbridge-retry-") as folder:
        spool = Path(folder) / "rows.jsonl"
        with store.read() as r:
            found = r.rows(
                f"SELECT raw FROM quarantine WHERE {where} ORDER BY line", [model_id, old]
            )
        spool.write_text("".join(raw + "\n" for (raw,) in found), encoding="utf-8")

        def mark_retried(w: Work, new_batch: str) -> None:
            w.sql(f"UPDATE quarantine SET retried_in = ? WHERE {where}", [new_batch, model_id, old])

        # A retry of a retry still names the file the rows first came in.
        origin = source.removeprefix(RETRY_PREFIX)
        return job.run(
            spool, name=RETRY_PREFIX + origin, skip_seen_content=False, before_commit=mark_retried
        )
