"""Append prediction logs and late labels: validated, accounted for, atomic per file.

Every file is one transaction: its good rows, its quarantined rows and its batch record are
committed together or not at all, so a crash leaves the store as it was before that file and a
rerun completes it. Re-sending a file whose content was already ingested is a no-op.

Validation is set-based DuckDB SQL, a few passes per file and no Python per row: the request
ids repeated in the file or already stored (`__dup_file`, `__dup_store`), then the rows some
check rejects with their reasons, flags and the row as received (`__bad`), then every other
row appended with its values parsed once, then flags counted on the stored typed values.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from core.errors import FileProblem, InvalidInput
from core.files.loading import RawTable, load_file
from core.files.sources import delimiter_of, local_file, sha256_of
from core.ingest.batches import BatchResult
from core.ingest.labels import append_labels
from core.ingest.predictions import append_predictions
from core.registry import get_model, get_version
from core.store import Model, Store, Work

# DuckDB's working memory while one file is ingested (memory limit, threads): a million rows of
# 20 features need about half of it; temporary tables spill to disk beyond it. This bounds the
# ingest's peak memory. A file that still runs out is tried again on one thread (each thread
# holds its own buffers) within the same budget, and only then with DuckDB's own limits, so
# that an unusually wide file is still ingested.
INGEST_BUDGETS: tuple[tuple[str | None, int | None], ...] = (
    ("500MB", None),
    ("500MB", 1),
    (None, None),
)
# Called with (file name, None) when a file starts and (file name, rows read) when it is done.
Progress = Callable[[str, int | None], None]


def _new_batch_id() -> str:
    return "b-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:8]


def _already_ingested(w: Work, model_id: int, kind: str, digest: str) -> str | None:
    # One file's content is ingested once: the check and the batch's record must not interleave
    # with another worker's (on the embedded store, whole units of work already do not).
    w.serialise(f"batches:{model_id}:{kind}")
    found = w.catalog(
        "SELECT batch_id FROM batch WHERE model_id = :model AND kind = :kind "
        "AND content_sha256 = :digest LIMIT 1",
        {"model": model_id, "kind": kind, "digest": digest},
    ).first()
    return str(found[0]) if found else None


def prediction_job(
    store: Store,
    *,
    model: str,
    version: int | None = None,
    fmt: str | None = None,
    delimiter: str | None = None,
    range_tolerance: float = 0.0,
    progress: Progress | None = None,
) -> Job:
    """A job that validates and appends prediction-log files for MODEL."""
    if range_tolerance < 0:
        raise InvalidInput("the range tolerance must be zero or positive")
    delimiter_of(delimiter)
    store.open()
    with store.read() as r:
        entry = get_model(r, name=model)
        target = get_version(r, model=entry, version=version)

    def body(w: Work, raw: RawTable, batch_id: str) -> BatchResult:
        return append_predictions(
            w, raw=raw, batch_id=batch_id, model=entry, version=target, tolerance=range_tolerance
        )

    return Job(store, entry, "prediction", body, fmt, delimiter, progress, target.version)


def label_job(
    store: Store,
    *,
    model: str,
    fmt: str | None = None,
    delimiter: str | None = None,
    progress: Progress | None = None,
) -> Job:
    """A job that validates and appends late ground truth (request id and target) for MODEL."""
    delimiter_of(delimiter)
    store.open()
    with store.read() as r:
        entry = get_model(r, name=model)
        latest = get_version(r, model=entry)

    def body(w: Work, raw: RawTable, batch_id: str) -> BatchResult:
        return append_labels(w, raw=raw, batch_id=batch_id, model=entry, version=latest)

    return Job(store, entry, "label", body, fmt, delimiter, progress)


def ingest_predictions(
    store: Store, *, model: str, files: Iterable[str | Path], **options: Any
) -> list[BatchResult]:
    """Validate and append prediction-log files for MODEL; one result per file."""
    job = prediction_job(store, model=model, **options)
    return [job.run(source) for source in files]


def ingest_labels(
    store: Store, *, model: str, files: Iterable[str | Path], **options: Any
) -> list[BatchResult]:
    """Validate and append label files for MODEL; one result per file."""
    job = label_job(store, model=model, **options)
    return [job.run(source) for source in files]


@dataclass(frozen=True)
class Job:
    """How to ingest one kind of file for one model; run() does one file in one transaction."""

    store: Store
    model: Model
    kind: str
    body: Callable[[Work, RawTable, str], BatchResult]
    fmt: str | None = None
    delimiter: str | None = None
    progress: Progress | None = None
    version: int | None = None

    def run(
        self,
        source: str | Path,
        *,
        name: str | None = None,
        skip_seen_content: bool = True,
        before_commit: Callable[[Work, str], None] | None = None,
    ) -> BatchResult:
        """Ingest one file; a file-level problem comes back as the result's error."""
        name = name or ("<stdin>" if str(source) == "-" else str(source))
        if self.progress:
            self.progress(name, None)
        result = BatchResult(name, None)
        try:
            result = self._run(source, name, skip_seen_content, before_commit)
        except (FileProblem, InvalidInput) as exc:
            result = BatchResult(name, None, error=str(exc))
        finally:
            if self.progress:
                self.progress(name, result.rows_read)
        return result

    def _run(
        self,
        source: str | Path,
        name: str,
        skip_seen_content: bool,
        before_commit: Callable[[Work, str], None] | None,
    ) -> BatchResult:
        with local_file(source) as path, ThreadPoolExecutor(max_workers=1) as hashing:
            # The file is hashed (for "already ingested?") while the store opens and DuckDB
            # loads the file (a Parquet file's layout; a text file's rows, to a temporary
            # table); the digest is checked before the first pass of checks.
            digest = hashing.submit(sha256_of, path)
            for budget in INGEST_BUDGETS[:-1]:
                with suppress(duckdb.OutOfMemoryException):
                    return self._once(path, name, digest, skip_seen_content, before_commit, budget)
            return self._once(
                path, name, digest, skip_seen_content, before_commit, INGEST_BUDGETS[-1]
            )

    def _once(
        self,
        path: Path,
        name: str,
        hashed: Future[str],
        skip_seen_content: bool,
        before_commit: Callable[[Work, str], None] | None,
        budget: tuple[str | None, int | None],
    ) -> BatchResult:
        assert self.model.id is not None
        memory, threads = budget
        with self.store.write() as w:
            if memory:
                w.sql(f"SET memory_limit = '{memory}'")
            if threads:
                w.sql(f"SET threads = {int(threads)}")
            try:
                raw = load_file(
                    w.db,
                    path,
                    table="__raw",
                    fmt=self.fmt,
                    delimiter=self.delimiter,
                    source_name=name,
                )
                digest = hashed.result()
                previous = _already_ingested(w, self.model.id, self.kind, digest)
                if previous and skip_seen_content:
                    return BatchResult(name, None, duplicate_of=previous)
                # Every row now carries its number, so no pass needs DuckDB to keep rows in
                # order, which would serialise the scans and buffer rows while a million are
                # written. Rows still go in roughly in file order, good for zone maps on ts.
                w.sql("SET preserve_insertion_order = false")
                batch_id = _new_batch_id()
                try:
                    result = self.body(w, raw, batch_id)
                except (duckdb.IOException, duckdb.InvalidInputException) as exc:
                    # A Parquet file is read in place: damage past its footer shows up here.
                    first = str(exc).strip().splitlines()[0]
                    raise FileProblem(f"{name}: cannot be read ({first})") from None
                _record_batch(w, self.model.id, self.kind, digest, result, self.version)
                if before_commit:
                    before_commit(w, batch_id)
            finally:
                _reset_settings(w)
        return result


def _reset_settings(w: Work) -> None:
    """Give the database its default settings back: another connection may share it."""
    # After an error the transaction is aborted and refuses even RESET; the connection is
    # rolled back and closed next, and the error that got us here must not be masked.
    with suppress(duckdb.TransactionException):
        w.sql("RESET preserve_insertion_order")
        w.sql("RESET memory_limit")
        w.sql("RESET threads")


def _record_batch(
    w: Work, model_id: int, kind: str, digest: str, result: BatchResult, version: int | None
) -> None:
    w.catalog(
        "INSERT INTO batch (batch_id, model_id, version, kind, source, content_sha256, "
        "rows_read, rows_ingested, rows_quarantined, reasons, created_at) VALUES (:batch_id, "
        ":model_id, :version, :kind, :source, :digest, :rows_read, :rows_ingested, "
        ":rows_quarantined, :reasons, now() AT TIME ZONE 'UTC')",
        {
            "batch_id": result.batch_id,
            "model_id": model_id,
            "version": version,
            "kind": kind,
            "source": result.source,
            "digest": digest,
            "rows_read": result.rows_read,
            "rows_ingested": result.rows_ingested,
            "rows_quarantined": result.rows_quarantined,
            "reasons": json.dumps(
                {**result.reasons, **{f"flag:{k}": v for k, v in result.flags.items()}}
            ),
        },
    )
