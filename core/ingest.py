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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from core import logs
from core.errors import FileProblem, InvalidInput
from core.features import Feature
from core.models import Model, ModelVersion
from core.readers import (
    RawTable,
    delimiter_of,
    json_sql,
    load_file,
    local_file,
    quote_ident,
    quote_literal,
    sha256_of,
)
from core.registry import features_of, get_model, get_version, label_to_y_sql
from core.store import Store, Work
from core.validation import (
    FUTURE_SLACK,
    Check,
    any_sql,
    feature_checks,
    number_sent_sql,
    number_sql,
    numeric_sql,
    present_sql,
    reasons_sql,
    text_sql,
    timestamp_sql,
)

LATENCY_COLUMN = "latency_ms"
PLAIN_BINARY_LABELS = ("0", "1", "false", "true", "f", "t", "no", "yes")
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


@dataclass(frozen=True)
class BatchResult:
    """The accounting of one file: rows read = rows ingested + rows quarantined."""

    source: str
    batch_id: str | None
    rows_read: int = 0
    rows_ingested: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)
    duplicate_of: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return dict(self.__dict__)


def _new_batch_id() -> str:
    return "b-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:8]


def _already_ingested(w: Work, model_id: int, kind: str, digest: str) -> str | None:
    found = w.rows(
        "SELECT batch_id FROM batch WHERE model_id = ? AND kind = ? AND content_sha256 = ? LIMIT 1",
        [model_id, kind, digest],
    )
    return found[0][0] if found else None


def prediction_job(
    store: Store,
    model: str,
    *,
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
        entry = get_model(r, model)
        target = get_version(r, entry, version)

    def body(w: Work, raw: RawTable, batch_id: str) -> BatchResult:
        return _predictions(w, raw, batch_id, entry, target, range_tolerance)

    return Job(store, entry, "prediction", body, fmt, delimiter, progress, target.version)


def label_job(
    store: Store,
    model: str,
    *,
    fmt: str | None = None,
    delimiter: str | None = None,
    progress: Progress | None = None,
) -> Job:
    """A job that validates and appends late ground truth (request id and target) for MODEL."""
    delimiter_of(delimiter)
    store.open()
    with store.read() as r:
        entry = get_model(r, model)
        latest = get_version(r, entry)

    def body(w: Work, raw: RawTable, batch_id: str) -> BatchResult:
        return _labels(w, raw, batch_id, entry, latest)

    return Job(store, entry, "label", body, fmt, delimiter, progress)


def ingest_predictions(
    store: Store, *, model: str, files: Iterable[str | Path], **options: Any
) -> list[BatchResult]:
    """Validate and append prediction-log files for MODEL; one result per file."""
    job = prediction_job(store, model, **options)
    return [job.run(source) for source in files]


def ingest_labels(
    store: Store, *, model: str, files: Iterable[str | Path], **options: Any
) -> list[BatchResult]:
    """Validate and append label files for MODEL; one result per file."""
    job = label_job(store, model, **options)
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
    w.sql(
        "INSERT INTO batch VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now() AT TIME ZONE 'UTC')",
        [
            result.batch_id,
            model_id,
            version,
            kind,
            result.source,
            digest,
            result.rows_read,
            result.rows_ingested,
            result.rows_quarantined,
            json.dumps({**result.reasons, **{f"flag:{k}": v for k, v in result.flags.items()}}),
        ],
    )


def _require_columns(raw: RawTable, needed: dict[str, str], what: str) -> None:
    missing = [f"{col!r} ({role})" for col, role in needed.items() if col not in raw.columns]
    if len(missing) == len(needed) and len(needed) > 1:
        raise FileProblem(
            f"{raw.source}: none of the {what} columns are present; is this another model's "
            f"file? Its columns are {', '.join(list(raw.columns)[:12])}"
        )
    if missing:
        raise FileProblem(
            f"{raw.source}: missing required column(s) {', '.join(missing)}; nothing was ingested "
            "from this file"
        )


def _predictions(
    w: Work, raw: RawTable, batch_id: str, model: Model, version: ModelVersion, tolerance: float
) -> BatchResult:
    features = features_of(version)
    id_col, score_col, ts_col = (
        version.id_column,
        version.prediction_column,
        version.timestamp_column,
    )
    needed = {id_col: "request id", score_col: "prediction"}
    needed.update({f.name: "feature" for f in features})
    _require_columns(raw, needed, "model's")
    has_ts = ts_col in raw.columns
    has_latency = LATENCY_COLUMN in raw.columns
    known = {id_col, score_col, ts_col, LATENCY_COLUMN, *(f.name for f in features)}
    extra = [c for c in raw.columns if c not in known]

    def col(name: str) -> tuple[str, str]:
        return quote_ident(name), raw.columns[name]

    stored = {  # pred column -> typed value, each parsed once per pass
        "request_id": text_sql(*col(id_col)),
        "ts": timestamp_sql(*col(ts_col)) if has_ts else "now() AT TIME ZONE 'UTC'",
        "score": number_sql(*col(score_col)),
        "latency_ms": number_sql(*col(LATENCY_COLUMN)) if has_latency else "NULL",
        "extra": json_sql({c: raw.columns[c] for c in extra}) if extra else "NULL",
    }
    sent = {
        "__mb_rid_sent": present_sql(*col(id_col)),
        "__mb_score_sent": number_sent_sql(*col(score_col)),
        "__mb_latency_sent": number_sent_sql(*col(LATENCY_COLUMN)) if has_latency else "false",
    }
    checks = _prediction_checks(model, has_ts)
    for feature in features:
        value, given = f"__mb_{feature.column}", f"__mb_{feature.column}_sent"
        if feature.kind == "numeric":
            sent[given] = number_sent_sql(*col(feature.name))
            stored[feature.column] = number_sql(*col(feature.name))
        else:
            sent[given] = present_sql(*col(feature.name))
            text = text_sql(*col(feature.name))
            stored[feature.column] = f"CASE WHEN {sent[given]} THEN {text} END"
        checks.extend(feature_checks(feature, tolerance, value, given))
    typed = {f"__mb_{k}": v for k, v in stored.items()} | sent
    table = logs.pred_table(model.id)
    _find_duplicates(w, raw, stored["request_id"], sent["__mb_rid_sent"], table)
    joins = (
        "LEFT JOIN __dup_file f ON f.rid = t.__mb_request_id "
        "LEFT JOIN __dup_store s ON s.rid = t.__mb_request_id"
    )
    _split(w, raw, typed, joins, checks, ts="__mb_ts")
    good = _append(w, raw, table, stored, {"version": version.version, "batch_id": batch_id})
    flagged = _flag_counts(w, table, batch_id, features, tolerance)
    warnings = list(raw.warnings)
    if not has_ts:
        warnings.append(f"no {ts_col!r} column: rows are stamped with the ingest time")
    return _account(w, raw, batch_id, model.id, "prediction", good, flagged, extra, warnings)


def _flag_counts(
    w: Work, table: str, batch_id: str, features: list[Feature], tolerance: float
) -> dict[str, int]:
    """Flags of the rows just appended, counted in one pass over their stored typed values."""
    checks = [
        c
        for f in features
        for c in feature_checks(f, tolerance, f.column, f"{f.column} IS NOT NULL")
        if not c.rejects and not c.reason.startswith("unknown_category:")
    ]
    # Known categories are matched on each column's histogram (a few distinct values), not
    # row by row: an IN list of 100 strings costs 100 comparisons per row.
    closed = [f for f in features if f.kind == "categorical" and f.categories]
    closed = [f for f in closed if not f.open_categories]
    aggregates = [f"count(*) FILTER (WHERE {c.condition})" for c in checks]
    aggregates += [f"histogram({f.column})" for f in closed]
    found = w.rows(
        f"SELECT {', '.join(aggregates) or '0'} FROM {table} WHERE batch_id = ?", [batch_id]
    )[0]
    flags = {c.reason: int(n) for c, n in zip(checks, found, strict=False)}
    for feature, seen in zip(closed, found[len(checks) :], strict=True):
        known = set(feature.categories)
        unknown = sum(n for value, n in (seen or {}).items() if value not in known)
        flags[f"unknown_category:{feature.name}"] = int(unknown)
    return {reason: n for reason, n in flags.items() if n}


def _prediction_checks(model: Model, has_ts: bool) -> list[Check]:
    score, lat = "__mb_score", "__mb_latency_ms"
    checks = [
        Check("missing_request_id", "NOT __mb_rid_sent"),
        Check("duplicate_request_id_in_file", "t.__row > f.first_row"),
        Check("duplicate_request_id_in_store", "s.rid IS NOT NULL"),
        Check("missing_prediction", "NOT __mb_score_sent"),
        Check("bad_prediction", f"__mb_score_sent AND ({score} IS NULL OR NOT isfinite({score}))"),
    ]
    if model.task == "binary":
        checks.append(
            Check("prediction_outside_0_1", f"isfinite({score}) AND ({score} < 0 OR {score} > 1)")
        )
    if has_ts:
        checks.append(Check("bad_timestamp", "__mb_ts IS NULL"))
        checks.append(
            Check("future_timestamp", f"__mb_ts > now() AT TIME ZONE 'UTC' + {FUTURE_SLACK}")
        )
    checks.append(
        Check("bad_latency", f"__mb_latency_sent AND ({lat} IS NULL OR NOT isfinite({lat}))")
    )
    checks.append(Check("negative_latency", f"{lat} < 0"))
    return checks


def _find_duplicates(w: Work, raw: RawTable, rid: str, sent: str, stored_ids: str) -> None:
    """__dup_file(rid, first_row) for ids repeated in the file, __dup_store(rid) for stored ones."""
    w.sql(
        "CREATE OR REPLACE TEMP TABLE __dup_file AS SELECT rid, min(__row) AS first_row FROM "
        f"(SELECT {rid} AS rid, __row FROM {raw.table} WHERE {sent}) "
        "GROUP BY rid HAVING count(*) > 1"
    )
    w.sql(
        f"CREATE OR REPLACE TEMP TABLE __dup_store AS SELECT DISTINCT request_id AS rid "
        f"FROM {stored_ids} WHERE request_id IN (SELECT {rid} FROM {raw.table})"
    )


def _split(
    w: Work,
    raw: RawTable,
    typed: dict[str, str],
    joins: str,
    checks: list[Check],
    ts: str = "NULL",
    params: list[Any] | None = None,
) -> None:
    """__bad: the rows a check rejects, with their reasons, flags, timestamp and raw record."""
    problems = [c for c in checks if c.rejects]
    flags = [c for c in checks if not c.rejects]
    projections = ", ".join(f"{sql} AS {name}" for name, sql in typed.items())
    w.sql(
        "CREATE OR REPLACE TEMP TABLE __bad AS "
        f"WITH typed AS (SELECT r.*, {projections} FROM {raw.table} r) "
        f"SELECT t.__row, {reasons_sql(problems)} AS problems, {reasons_sql(flags)} AS flags, "
        f"{ts} AS ts, {raw.raw_sql} AS raw FROM typed t {joins} WHERE {any_sql(problems)}",
        params,
    )


def _append(
    w: Work,
    raw: RawTable,
    table: str,
    values: dict[str, str],
    constants: dict[str, Any],
    params: list[Any] | None = None,
) -> int:
    """Insert the rows of RAW not in __bad into TABLE; return how many."""
    names = [*constants, *values]
    selected = ", ".join(["?"] * len(constants) + list(values.values()))
    return int(
        w.rows(
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {selected} FROM {raw.table} r "
            "ANTI JOIN __bad b ON r.__row = b.__row",
            [*constants.values(), *(params or [])],
        )[0][0]
    )


def _account(
    w: Work,
    raw: RawTable,
    batch_id: str,
    model_id: int,
    kind: str,
    good: int,
    flags: dict[str, int],
    extra: list[str],
    warnings: list[str],
) -> BatchResult:
    w.sql(
        "INSERT INTO quarantine SELECT ?, ?, ?, ?, __row, list_concat(problems, flags), raw, "
        "now() AT TIME ZONE 'UTC', NULL, ts FROM __bad",
        [model_id, batch_id, kind, raw.source],
    )
    w.sql(
        "INSERT INTO quarantine SELECT ?, ?, ?, ?, row, ['malformed_row'], "
        "CAST(to_json({'line': text}) AS VARCHAR), now() AT TIME ZONE 'UTC', NULL, NULL "
        f"FROM {raw.rejects_table}",
        [model_id, batch_id, kind, raw.source],
    )
    bad = w.rows("SELECT count(*) FROM __bad")[0][0]
    reasons = dict(
        w.rows(
            "SELECT r, count(*) FROM (SELECT unnest(problems) AS r FROM __bad) "
            "GROUP BY r ORDER BY 2 DESC, 1"
        )
    )
    if raw.rejects:
        reasons["malformed_row"] = len(raw.rejects)
    return BatchResult(
        source=raw.source,
        batch_id=batch_id,
        rows_read=raw.rows + len(raw.rejects),
        rows_ingested=good,
        rows_quarantined=int(bad) + len(raw.rejects),
        reasons={k: int(v) for k, v in reasons.items()},
        flags=dict(sorted(flags.items(), key=lambda kv: (-kv[1], kv[0]))),
        extra_columns=extra,
        warnings=warnings,
    )


def _labels(
    w: Work, raw: RawTable, batch_id: str, model: Model, version: ModelVersion
) -> BatchResult:
    id_col, target = version.id_column, version.target_column
    _require_columns(raw, {id_col: "request id", target: "target"}, "label")
    rid = quote_ident(id_col), raw.columns[id_col]
    label = quote_ident(target), raw.columns[target]
    y_sql, y_params = label_to_y_sql(label[0], model.positive_label)
    valid = f"COALESCE({present_sql(*label)} AND ({_label_valid_sql(w, model, label)}), false)"
    typed = {
        "__mb_rid": text_sql(*rid),
        "__mb_rid_sent": present_sql(*rid),
        "__mb_label_sent": present_sql(*label),
        "__mb_valid": valid,
        "__mb_y": y_sql,
    }
    ids = f"(SELECT {typed['__mb_rid']} FROM {raw.table})"
    w.sql(
        "CREATE OR REPLACE TEMP TABLE __dup_file AS SELECT rid, min(__row) AS first_row, "
        "count(DISTINCT y) > 1 AS conflict FROM (SELECT "
        f"{typed['__mb_rid']} AS rid, {y_sql} AS y, __row FROM {raw.table} "
        f"WHERE {typed['__mb_rid_sent']} AND {valid}) GROUP BY rid HAVING count(*) > 1",
        y_params,
    )
    w.sql(
        "CREATE OR REPLACE TEMP TABLE __known AS SELECT DISTINCT request_id AS rid "
        f"FROM {logs.pred_table(model.id)} WHERE request_id IN {ids}"
    )
    w.sql(
        "CREATE OR REPLACE TEMP TABLE __stored AS SELECT request_id AS rid, min(y) AS lo, "
        f"max(y) AS hi FROM label WHERE model_id = ? AND request_id IN {ids} GROUP BY ALL",
        [model.id],
    )
    # Only rows with an id and a valid label take part in duplicate and conflict checks.
    in_file = "__mb_rid_sent AND __mb_valid AND f.rid IS NOT NULL"
    checks = [
        Check("missing_request_id", "NOT __mb_rid_sent"),
        Check("missing_label", "NOT __mb_label_sent"),
        Check("bad_label", "__mb_label_sent AND NOT __mb_valid"),
        Check("conflicting_labels_in_file", f"{in_file} AND f.conflict"),
        Check("duplicate_label_in_file", f"{in_file} AND NOT f.conflict AND t.__row > f.first_row"),
        Check("unknown_request_id", "__mb_rid_sent AND k.rid IS NULL"),
        Check("already_labelled", "__mb_valid AND (s.lo = __mb_y OR s.hi = __mb_y)"),
        Check("conflicts_with_stored_label", "__mb_valid AND (s.lo <> __mb_y OR s.hi <> __mb_y)"),
    ]
    joins = (
        "LEFT JOIN __dup_file f ON f.rid = t.__mb_rid LEFT JOIN __known k ON k.rid = t.__mb_rid "
        "LEFT JOIN __stored s ON s.rid = t.__mb_rid"
    )
    _split(w, raw, typed, joins, checks, params=y_params)
    stored = {
        "request_id": typed["__mb_rid"],
        "label": text_sql(*label),
        "y": y_sql,
        "arrived_at": "now() AT TIME ZONE 'UTC'",
    }
    good = _append(w, raw, "label", stored, {"model_id": model.id, "batch_id": batch_id}, y_params)
    return _account(w, raw, batch_id, model.id, "label", good, {}, [], list(raw.warnings))


def _label_valid_sql(w: Work, model: Model, label: tuple[str, str]) -> str:
    if model.task == "regression":
        return f"isfinite({numeric_sql(*label)})"
    classes = [
        r[0]
        for r in w.rows(
            f"SELECT DISTINCT lower(trim(target)) FROM {logs.ref_table(model.id)} "
            "WHERE target IS NOT NULL"
        )
    ]
    if not classes:
        # A reference without outcomes shows no classes: take the positive label and the usual
        # spellings of a yes/no outcome rather than refusing every label.
        classes = [str(model.positive_label or "1").strip().lower(), *PLAIN_BINARY_LABELS]
    listed = ", ".join(quote_literal(c) for c in classes)
    text = f"lower(trim({text_sql(*label)}))"
    return (
        f"{text} IN ({listed}) OR TRY_CAST({text} AS DOUBLE) IN "
        f"(SELECT TRY_CAST(unnest([{listed}]) AS DOUBLE))"
    )
