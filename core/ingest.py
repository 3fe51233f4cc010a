"""Append prediction logs and late labels: validated, accounted for, atomic per file.

Every file is one transaction: its good rows, its quarantined rows and its batch record are
committed together or not at all, so a crash leaves the store as it was before that file and a
rerun completes it. Re-sending a file whose content was already ingested is a no-op.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import logs
from core.errors import FileProblem, InvalidInput
from core.features import Feature
from core.models import Model, ModelVersion
from core.readers import RawTable, load_file, local_file, quote_ident, quote_literal, sha256_of
from core.registry import features_of, get_model, get_version, label_to_y_sql
from core.store import Store, Work
from core.validation import (
    Check,
    category_params,
    feature_checks,
    numeric_sql,
    present_sql,
    reasons_sql,
    timestamp_sql,
)

LATENCY_COLUMN = "latency_ms"
Progress = Callable[[str, int], None]


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
        return {k: v for k, v in self.__dict__.items()}


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
    store.open()
    with store.read() as r:
        entry = get_model(r, model)
        target = get_version(r, entry, version)

    def body(w: Work, raw: RawTable, batch_id: str) -> BatchResult:
        return _predictions(w, raw, batch_id, entry, target, range_tolerance)

    return Job(store, entry, "prediction", body, fmt, delimiter, progress)


def label_job(
    store: Store,
    model: str,
    *,
    fmt: str | None = None,
    delimiter: str | None = None,
    progress: Progress | None = None,
) -> Job:
    """A job that validates and appends late ground truth (request id and target) for MODEL."""
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

    def run(
        self,
        source: str | Path,
        *,
        name: str | None = None,
        skip_seen_content: bool = True,
        before_commit: Callable[[Work, str], None] | None = None,
    ) -> BatchResult:
        """Ingest one file; a file-level problem comes back as the result's error."""
        name = name or str(source)
        try:
            with local_file(source) as path:
                digest = sha256_of(path)
                with self.store.write() as w:
                    previous = _already_ingested(w, self.model.id, self.kind, digest)
                    if previous and skip_seen_content:
                        return BatchResult(name, None, duplicate_of=previous)
                    if self.progress:
                        self.progress(name, 0)
                    raw = load_file(
                        w.db,
                        path,
                        table="__raw",
                        fmt=self.fmt,
                        delimiter=self.delimiter,
                        source_name=name,
                    )
                    batch_id = _new_batch_id()
                    result = self.body(w, raw, batch_id)
                    _record_batch(w, self.model.id, self.kind, digest, result)
                    if before_commit:
                        before_commit(w, batch_id)
                if self.progress:
                    self.progress(name, result.rows_read)
                return result
        except (FileProblem, InvalidInput) as exc:
            return BatchResult(name, None, error=str(exc))


def _record_batch(w: Work, model_id: int, kind: str, digest: str, result: BatchResult) -> None:
    import json

    w.sql(
        "INSERT INTO batch VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now() AT TIME ZONE 'UTC')",
        [
            result.batch_id,
            model_id,
            None,
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
    known = {id_col, score_col, ts_col, LATENCY_COLUMN, "__row", *(f.name for f in features)}
    extra = [c for c in raw.columns if c not in known]
    checks = _prediction_checks(model, version, features, has_ts, has_latency, tolerance)
    _classify(w, checks, category_params(features), id_col, logs.pred_table(model.id))
    ts = timestamp_sql(quote_ident(ts_col)) if has_ts else "now() AT TIME ZONE 'UTC'"
    latency = numeric_sql(quote_ident(LATENCY_COLUMN)) if has_latency else "NULL"
    extra_json = _struct_json(extra) if extra else "NULL"
    columns = ", ".join(f.column for f in features)
    values = ", ".join(_typed(f) for f in features)
    w.sql(
        f"INSERT INTO {logs.pred_table(model.id)} "
        f"(request_id, version, ts, score, latency_ms, batch_id, extra, {columns}) "
        f"SELECT CAST({quote_ident(id_col)} AS VARCHAR), ?, {ts}, "
        f"{numeric_sql(quote_ident(score_col))}, {latency}, ?, {extra_json}, {values} "
        "FROM __raw JOIN __verdict USING (__row) WHERE len(problems) = 0 ORDER BY 3",
        [version.version, batch_id],
    )
    warnings = [] if has_ts else [f"no {ts_col!r} column: rows are stamped with the ingest time"]
    return _account(w, raw, batch_id, model.id, "prediction", extra, warnings, ts)


def _prediction_checks(
    model: Model,
    version: ModelVersion,
    features: list[Feature],
    has_ts: bool,
    has_latency: bool,
    tolerance: float,
) -> list[Check]:
    rid = quote_ident(version.id_column)
    score = numeric_sql(quote_ident(version.prediction_column))
    checks = [
        Check("missing_request_id", f"NOT {present_sql(rid)}"),
        Check("duplicate_request_id_in_file", "__dup_in_file"),
        Check("duplicate_request_id_in_store", "__dup_in_store"),
        Check("missing_prediction", f"NOT {present_sql(quote_ident(version.prediction_column))}"),
        Check(
            "bad_prediction",
            f"{present_sql(quote_ident(version.prediction_column))} "
            f"AND ({score} IS NULL OR NOT isfinite({score}))",
        ),
    ]
    if model.task == "binary":
        checks.append(
            Check("prediction_outside_0_1", f"isfinite({score}) AND ({score} < 0 OR {score} > 1)")
        )
    if has_ts:
        ts_raw = quote_ident(version.timestamp_column)
        ts = timestamp_sql(ts_raw)
        checks.append(Check("bad_timestamp", f"{ts} IS NULL"))
        checks.append(
            Check("future_timestamp", f"{ts} > now() AT TIME ZONE 'UTC' + INTERVAL 5 MINUTE")
        )
    if has_latency:
        lat_raw = quote_ident(LATENCY_COLUMN)
        lat = numeric_sql(lat_raw)
        checks.append(
            Check(
                "bad_latency", f"{present_sql(lat_raw)} AND ({lat} IS NULL OR NOT isfinite({lat}))"
            )
        )
        checks.append(Check("negative_latency", f"{lat} < 0"))
    for feature in features:
        checks.extend(feature_checks(feature, tolerance))
    return checks


def _classify(w: Work, checks: list[Check], params: list[Any], id_col: str, table: str) -> None:
    """Build __verdict(__row, problems, flags) for every row of __raw in one SQL pass."""
    rid = f"CAST({quote_ident(id_col)} AS VARCHAR)"
    problems, flags = reasons_sql(checks)
    w.sql(
        "CREATE OR REPLACE TEMP TABLE __keyed AS SELECT *, "
        f"{rid} IS NOT NULL AND row_number() OVER (PARTITION BY {rid} ORDER BY __row) > 1 "
        "AS __dup_in_file, "
        f"{rid} IN (SELECT request_id FROM {table}) AS __dup_in_store FROM __raw"
    )
    w.sql(
        f"CREATE OR REPLACE TEMP TABLE __verdict AS SELECT __row, {problems} AS problems, "
        f"{flags} AS flags FROM __keyed",
        params,
    )


def _account(
    w: Work,
    raw: RawTable,
    batch_id: str,
    model_id: int,
    kind: str,
    extra: list[str],
    warnings: list[str],
    ts_sql: str = "NULL",
) -> BatchResult:
    everything = _struct_json([c for c in raw.columns])
    w.sql(
        "INSERT INTO quarantine SELECT ?, ?, ?, ?, __row, "
        "list_concat(problems, flags), "
        f"{everything}, now() AT TIME ZONE 'UTC', NULL, {ts_sql} "
        "FROM __raw JOIN __verdict USING (__row) WHERE len(problems) > 0",
        [model_id, batch_id, kind, raw.source],
    )
    for line, text, why in raw.rejects:
        w.sql(
            "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, to_json({'line': ?}), "
            "now() AT TIME ZONE 'UTC', NULL, NULL)",
            [model_id, batch_id, kind, raw.source, line, ["malformed_row", why], text],
        )
    good, bad = w.rows(
        "SELECT count(*) FILTER (WHERE len(problems) = 0), "
        "count(*) FILTER (WHERE len(problems) > 0) "
        "FROM __verdict"
    )[0]
    reasons = dict(
        w.rows(
            "SELECT r, count(*) FROM (SELECT unnest(problems) AS r FROM __verdict) "
            "GROUP BY r ORDER BY 2 DESC"
        )
    )
    if raw.rejects:
        reasons["malformed_row"] = len(raw.rejects)
    flags = dict(
        w.rows(
            "SELECT r, count(*) FROM (SELECT unnest(flags) AS r FROM __verdict "
            "WHERE len(problems) = 0) GROUP BY r ORDER BY 2 DESC"
        )
    )
    return BatchResult(
        source=raw.source,
        batch_id=batch_id,
        rows_read=raw.rows + len(raw.rejects),
        rows_ingested=int(good),
        rows_quarantined=int(bad) + len(raw.rejects),
        reasons={k: int(v) for k, v in reasons.items()},
        flags={k: int(v) for k, v in flags.items()},
        extra_columns=extra,
        warnings=warnings,
    )


def _struct_json(columns: list[str]) -> str:
    parts = ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in columns if c != "__row")
    return f"CAST(to_json(struct_pack({parts})) AS VARCHAR)"


def _typed(feature: Feature) -> str:
    col = quote_ident(feature.name)
    if feature.kind == "numeric":
        return numeric_sql(col)
    return f"CAST({col} AS VARCHAR)"


def _labels(
    w: Work, raw: RawTable, batch_id: str, model: Model, version: ModelVersion
) -> BatchResult:
    id_col, target = version.id_column, version.target_column
    _require_columns(raw, {id_col: "request id", target: "target"}, "label")
    rid = f"CAST({quote_ident(id_col)} AS VARCHAR)"
    label = quote_ident(target)
    y_sql, y_params = label_to_y_sql(label, model.positive_label)
    valid = _label_valid_sql(w, model, label)
    w.sql(
        "CREATE OR REPLACE TEMP TABLE __keyed AS SELECT *, "
        f"{y_sql} AS __y, "
        f"count(DISTINCT CAST({label} AS VARCHAR)) OVER (PARTITION BY {rid}) > 1 "
        "AS __conflict_in_file, "
        f"row_number() OVER (PARTITION BY {rid} ORDER BY __row) > 1 AS __dup_in_file FROM __raw",
        y_params,
    )
    stored = "SELECT request_id, y FROM label WHERE model_id = ?"
    known = f"SELECT request_id FROM {logs.pred_table(model.id)}"
    checks = [
        Check("missing_request_id", f"NOT {present_sql(quote_ident(id_col))}"),
        Check("missing_label", f"NOT {present_sql(label)}"),
        Check("bad_label", f"{present_sql(label)} AND NOT ({valid})"),
        Check("conflicting_labels_in_file", "__conflict_in_file"),
        Check("duplicate_label_in_file", "__dup_in_file AND NOT __conflict_in_file"),
        Check("unknown_request_id", f"{rid} NOT IN ({known})"),
        Check("already_labelled", f"{rid} IN (SELECT request_id FROM ({stored}) WHERE y = __y)"),
        Check(
            "conflicts_with_stored_label",
            f"{rid} IN (SELECT request_id FROM ({stored}) WHERE y <> __y)",
        ),
    ]
    problems, flags = reasons_sql(checks)
    w.sql(
        f"CREATE OR REPLACE TEMP TABLE __verdict AS SELECT __row, {problems} AS problems, "
        f"{flags} AS flags FROM __keyed",
        [model.id, model.id],
    )
    w.sql(
        "INSERT INTO label SELECT ?, "
        f"{rid}, CAST({label} AS VARCHAR), __y, now() AT TIME ZONE 'UTC', ? "
        "FROM __keyed JOIN __verdict USING (__row) WHERE len(problems) = 0",
        [model.id, batch_id],
    )
    return _account(w, raw, batch_id, model.id, "label", [], [])


def _label_valid_sql(w: Work, model: Model, label: str) -> str:
    if model.task == "regression":
        return f"{numeric_sql(label)} IS NOT NULL AND isfinite({numeric_sql(label)})"
    classes = [
        r[0]
        for r in w.rows(
            f"SELECT DISTINCT lower(trim(target)) FROM {logs.ref_table(model.id)} "
            "WHERE target IS NOT NULL"
        )
    ]
    listed = ", ".join(quote_literal(c) for c in classes) or "NULL"
    numbers = ", ".join(quote_literal(c) for c in classes if _is_number(c)) or "NULL"
    text = f"lower(trim(CAST({label} AS VARCHAR)))"
    return (
        f"{text} IN ({listed}) OR TRY_CAST({text} AS DOUBLE) IN "
        f"(SELECT TRY_CAST(unnest([{numbers}]) AS DOUBLE))"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
