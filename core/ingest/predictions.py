"""Prediction-log files: the checks on request ids, scores, timestamps, latencies and features,
duplicate request ids in the file or already stored, and the flags counted after the append.
"""

from __future__ import annotations

from core.files.loading import RawTable
from core.files.sources import json_sql, quote_ident
from core.ingest.batches import (
    BatchResult,
    append_accepted,
    quarantine_and_account,
    require_columns,
    resolve_quarantined,
    split_off_rejected,
)
from core.ingest.class_predictions import class_columns
from core.ingest.validation import (
    FUTURE_SLACK,
    MAX_REQUEST_ID,
    Check,
    feature_checks,
    number_sent_sql,
    number_sql,
    present_sql,
    text_sql,
    timestamp_sql,
)
from core.registry import classes, features_of
from core.registry.features import Feature
from core.store import Model, ModelVersion, Work, log_tables

LATENCY_COLUMN = "latency_ms"


def append_predictions(
    w: Work, *, raw: RawTable, batch_id: str, model: Model, version: ModelVersion, tolerance: float
) -> BatchResult:
    """Check the loaded prediction rows, append the good ones, quarantine the rest."""
    assert model.id is not None
    features = features_of(version)
    outputs = classes.class_outputs(version)
    id_col, score_col, ts_col = (
        version.id_column,
        version.prediction_column,
        version.timestamp_column,
    )
    # Without its own time a row would be stamped with the ingest time: a backfill would pile
    # up on one day and drift windows would mean nothing. A misnamed column is refused whole.
    needed = {id_col: "request id", score_col: "prediction", ts_col: "timestamp"}
    needed.update({f.name: "feature" for f in features})
    if outputs is not None:
        needed[score_col] = "predicted class"
        needed.update({f.name: "class probability" for f in outputs.probabilities.values()})
    require_columns(raw, needed, "model's")
    has_latency = LATENCY_COLUMN in raw.columns
    known = {id_col, score_col, ts_col, LATENCY_COLUMN, *needed}
    extra = [c for c in raw.columns if c not in known]

    def col(name: str) -> tuple[str, str]:
        return quote_ident(name), raw.columns[name]

    stored = {  # pred column -> typed value, each parsed once per pass
        "request_id": text_sql(*col(id_col)),
        "ts": timestamp_sql(*col(ts_col)),
        "score": number_sql(*col(score_col)),
        "latency_ms": number_sql(*col(LATENCY_COLUMN)) if has_latency else "NULL",
        "extra": json_sql({c: raw.columns[c] for c in extra}) if extra else "NULL",
    }
    sent = {
        "__mb_rid_sent": present_sql(*col(id_col)),
        "__mb_score_sent": number_sent_sql(*col(score_col)),
        "__mb_latency_sent": number_sent_sql(*col(LATENCY_COLUMN)) if has_latency else "false",
    }
    checks = _prediction_checks(model)
    if outputs is not None:
        more, more_sent, class_checks = class_columns(outputs, col=col, tolerance=tolerance)
        stored |= more
        sent |= more_sent
        checks += class_checks
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
    table = log_tables.pred_table(model.id)
    _find_duplicates(w, raw, stored["request_id"], sent["__mb_rid_sent"], table)
    joins = (
        "LEFT JOIN __dup_file f ON f.rid = t.__mb_request_id "
        "LEFT JOIN __dup_store s ON s.rid = t.__mb_request_id"
    )
    split_off_rejected(w, raw=raw, typed=typed, joins=joins, checks=checks, ts="__mb_ts")
    good = append_accepted(
        w,
        raw=raw,
        table=table,
        values=stored,
        constants={"version": version.version, "batch_id": batch_id},
    )
    flagged = _flag_counts(w, table, batch_id, features, tolerance)
    resolved = resolve_quarantined(
        w, table=table, id_column=id_col, model_id=model.id, kind="prediction", batch_id=batch_id
    )
    return quarantine_and_account(
        w,
        raw=raw,
        batch_id=batch_id,
        model_id=model.id,
        kind="prediction",
        good=good,
        flags=flagged,
        extra=extra,
        warnings=list(raw.warnings),
        resolved=resolved,
    )


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


def _prediction_checks(model: Model) -> list[Check]:
    score, lat = "__mb_score", "__mb_latency_ms"
    checks = [
        Check("missing_request_id", "NOT __mb_rid_sent"),
        Check("request_id_too_long", f"length(__mb_request_id) > {MAX_REQUEST_ID}"),
        Check("duplicate_request_id_in_file", "t.__row > f.first_row"),
        Check("duplicate_request_id_in_store", "s.rid IS NOT NULL"),
    ]
    if model.task != "multiclass":  # a multiclass score is checked as a class and probabilities
        checks.append(Check("missing_prediction", "NOT __mb_score_sent"))
        checks.append(
            Check(
                "bad_prediction", f"__mb_score_sent AND ({score} IS NULL OR NOT isfinite({score}))"
            )
        )
    if model.task == "binary":
        checks.append(
            Check("prediction_outside_0_1", f"isfinite({score}) AND ({score} < 0 OR {score} > 1)")
        )
    checks.append(Check("bad_timestamp", "__mb_ts IS NULL"))
    checks.append(Check("future_timestamp", f"__mb_ts > now() AT TIME ZONE 'UTC' + {FUTURE_SLACK}"))
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
